//! Tests of the memory manager on the fake platform.
