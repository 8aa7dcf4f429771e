"""``python -m power_director.config.meters``: the meter registry's reference as JSON."""

import dataclasses
import json

from power_director.config.meters import common_key_reference, meter_reference

print(json.dumps({"common": [dataclasses.asdict(k) for k in common_key_reference()],
                  "types": [dataclasses.asdict(m) for m in meter_reference()]}, indent=2))
