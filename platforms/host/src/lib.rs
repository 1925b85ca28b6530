//! veil-host: host-side services shared by the platforms.
