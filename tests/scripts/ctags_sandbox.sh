# universal-ctags' sandbox mode, a libseccomp program: it probes the
# seccomp(2) operations and flags, sets no_new_privs and loads an allow-list
# filter (anything else kills it) before it serves requests from stdin.
set -e
printf 'int foo(void) { return 1; }\nstatic int bar;\nstruct s { int x; };\n' > x.c
size=$(wc -c < x.c)
{
  printf '{"command":"generate-tags","filename":"x.c","size":%d}\n' "$size"
  cat x.c
  printf '{"command":"generate-tags","filename":"x.c","size":%d}\n' "$size"
  cat x.c
} | ctags --_interactive=sandbox
# Reading a file by name is refused in sandbox mode.
printf '{"command":"generate-tags","filename":"x.c"}\n' | ctags --_interactive=sandbox
echo "status $?"
