//! A fake platform for tests: a memory file in a `Vec`, address spaces that
//! record mappings, and contexts that run a scripted program instead of
//! machine code. PROVISIONAL: being written.
