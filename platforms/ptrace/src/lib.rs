//! veil-platform-ptrace.
