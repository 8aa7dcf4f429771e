"""Who the PTDaemon simulator says it is: its Identify replies, as real daemons give them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PtdIdentity:
    driver: str
    version: str
    idn: str  # the meter's *IDN? with ';' for ','
    model: str

    def identify_reply(self, averaging_ms: int, channels: int = 1) -> str:
        return (
            f"{self.driver},{averaging_ms},1,1,1,1,0,0,1,version={self.version},OS=Linux,"
            f"mode=power,1,1,{channels},0,0,no_cal_date,{self.idn}"
        )


#: The Yokogawa identities answer as PTDaemon 1.11.1, the only version MLCommons' checker
#: accepts (power-dev compliance/check.py SUPPORTED_VERSION at c4b3ad8). No public 1.11.1
#: Identify reply was found: the layout is that of the 1.9.2/1.10.0 replies in real
#: submissions' server.json (shared/fixtures/real-submissions), with "sim0" in the CRC field
#: so a log still shows it came from the simulator.
PTD_VERSION = "1.11.1-sim00000-20261123"
IDENTITIES: dict[str, PtdIdentity] = {
    "sim": PtdIdentity(
        "PowerDirectorSimulator", "sim-0.1.0-00000000-20261123", "POWER-DIRECTOR;SIM;0;0.1", "SIM"
    ),
    "wt310": PtdIdentity(
        "YokogawaWT310", PTD_VERSION, "YOKOGAWA;WT310;C2PH13047V;F1.03", "WT310"
    ),
    "wt330e": PtdIdentity(
        "YokogawaWT330E", PTD_VERSION, "YOKOGAWA;WT333E;C3VD30030E;F1.04", "WT330E"
    ),
    # The driver name and *IDN? of device type 77 as real runs' Identify gives them
    # (fixtures/real-submissions/v4.1_NVIDIA_H200*/power/server.json ptd_messages).
    "wt330_multichannel": PtdIdentity(
        "YokogawaWT330_multichannel", PTD_VERSION, "YOKOGAWA;WT333E;C2XL24034V;F1.04",
        "WT333E",
    ),
}


def rl_every_channel_header(count: int, channels: int) -> str:
    """A real PTDaemon 1.10's header of an ``RL,*,*`` reply (v4.1 NVIDIA H200 server.log)."""
    return f"Last {count} samples from sum channel and channels 1 - {channels}"
