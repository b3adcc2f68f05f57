"""Layer 2: the supervised-child protocol and GenServer.

:mod:`._child_spec` is what a supervisor knows of a child, :mod:`._child` how a child
runs under a supervisor (a protocol, so this layer never imports a supervisor), and
:mod:`._gen_server` the generic server built on both. A supervisor *is* a GenServer (as
in OTP), so supervision sits above this layer. Imports only :mod:`trio_otp._core`.
"""
