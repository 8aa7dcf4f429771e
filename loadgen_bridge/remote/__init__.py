"""Both ends of the remote protocol's format: the wire (``wire``) and the SUT agent
(``agent``). The director's end (``power_director.remote.service``) imports down into it."""
