"""Test helpers by topic: ``paths`` (where the real data is), ``references`` (independent computations), ``config``
(composing conf/), ``commands`` (running jobs in-process and as processes, reading a store), ``models`` (torch),
``servers`` (loopback services). Each imports only what its topic needs."""
