# gcc and make on a three-file C project: a build, a no-op rebuild, and a
# rebuild of just what a touched file affects.
set -e
cat > a.c <<'C'
int add(int x, int y) { return x + y; }
C
cat > b.c <<'C'
#include <stdio.h>
int add(int, int);
void show(int n) { printf("sum=%d\n", add(n, 2 * n)); }
C
cat > main.c <<'C'
void show(int);
int main(void) { for (int i = 1; i <= 3; i++) show(i); return 0; }
C
printf 'prog: a.o b.o main.o\n\tgcc -o $@ $^\n%%.o: %%.c\n\tgcc -O2 -c $<\nclean:\n\trm -f prog *.o\n' > Makefile
make
./prog
make
sleep 0.01; touch a.c
make
./prog
make clean
ls
gcc -O2 a.c b.c main.c -o /tmp/hello-veil && /tmp/hello-veil | tail -1
rm -f /tmp/hello-veil
