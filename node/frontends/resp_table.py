"""The complete RESP command table: resp_args.TABLE once every module that
registers into it has been imported (string and key commands, data types,
bit commands). Read TABLE from here, never from a module that registers.
"""

from __future__ import annotations

from raftcache.node.frontends import (resp_bits, resp_commands, resp_geo, resp_hyperloglog, resp_pubsub,
                                      resp_scripting, resp_sets_zsets, resp_sort_dump, resp_stream_groups, resp_streams,
                                      resp_types)
from raftcache.node.frontends.resp_args import TABLE, Spec

#: The modules whose import registered their commands into TABLE.
REGISTERED_BY = (resp_commands, resp_types, resp_sets_zsets, resp_bits, resp_pubsub, resp_hyperloglog, resp_geo,
                 resp_streams, resp_stream_groups, resp_sort_dump, resp_scripting)

__all__ = ["REGISTERED_BY", "TABLE", "Spec"]
