"""The job system: JobQueue, its retry policy, handles and executors.

A subsystem on top of the OTP layers (nothing in them imports it). The names here are
also exported by :mod:`trio_otp` itself.
"""
