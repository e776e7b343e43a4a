"""254Carbon Market Intelligence Platform."""

import os

__version__ = "0.1.0"

# Arrow allocates through mimalloc, which hands freed memory back to the OS 10 ms later: an ingest worker
# parsing file after file then faults its whole working set in again for each file (tens of thousands of
# page faults, a tenth to a fifth of a CAISO day's parse). Memory freed is kept 10 s for reuse instead.
# mimalloc reads this once, when pyarrow loads, so it is set here, before anything of ours imports pyarrow;
# an operator's own MIMALLOC_PURGE_DELAY wins.
os.environ.setdefault("MIMALLOC_PURGE_DELAY", "10000")
