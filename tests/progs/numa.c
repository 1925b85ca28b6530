/*
 * The NUMA calls on a machine with one node: get_mempolicy (flags, maxnode
 * and the node mask it writes), set_mempolicy (every mode, the mode flags,
 * masks with other nodes or past MAX_NUMNODES), mbind (alignment, holes,
 * flags, per-range policies read back with MPOL_F_ADDR),
 * set_mempolicy_home_node, migrate_pages and move_pages (status of
 * touched, untouched and unmapped pages).
 */
#include "common.h"
#include <sys/mman.h>
#include <sys/wait.h>

#ifndef SYS_set_mempolicy_home_node
#define SYS_set_mempolicy_home_node 450
#endif

static void get(const char *label)
{
	int pol = -7;
	unsigned long m[2] = {0xff, 0xff};
	long r = SC(SYS_get_mempolicy, &pol, m, 65, NULL, 0);
	if (r < 0)
		printf("%s: get = -1 %s\n", label, errname(errno));
	else
		printf("%s: policy=%#x mask=%#lx next=%#lx\n", label, pol, m[0], m[1]);
}

static void get_at(const char *label, void *addr)
{
	int pol = -7;
	unsigned long m[1] = {0xff};
	long r = SC(SYS_get_mempolicy, &pol, m, 64, addr, 2);
	if (r < 0)
		printf("%s: get = -1 %s\n", label, errname(errno));
	else
		printf("%s: policy=%#x mask=%#lx\n", label, pol, m[0]);
}

int main(int argc, char **argv)
{
	setup(argc, argv, "numa");
	unsigned long m[20];
	int pol;
	get("initial");
	memset(m, 0xaa, sizeof m);
	T("get maxnode 1", SC(SYS_get_mempolicy, &pol, m, 1, NULL, 0));
	printf("mask untouched: %d\n", m[0] == 0xaaaaaaaaaaaaaaaaUL);
	T("get maxnode 0", SC(SYS_get_mempolicy, &pol, m, 0, NULL, 0));
	T("get maxnode 130", SC(SYS_get_mempolicy, &pol, m, 130, NULL, 0));
	printf("mask %#lx %#lx %#lx\n", m[0], m[1], m[2]);
	T("get maxnode 32770", SC(SYS_get_mempolicy, &pol, m, 32770, NULL, 0));
	T("get bad flags", SC(SYS_get_mempolicy, &pol, NULL, 0, NULL, 8));
	T("get MEMS_ALLOWED|NODE", SC(SYS_get_mempolicy, &pol, NULL, 0, NULL, 5));
	T("get NODE of default", SC(SYS_get_mempolicy, &pol, NULL, 0, NULL, 1));
	T("get addr without MPOL_F_ADDR", SC(SYS_get_mempolicy, &pol, NULL, 0, (void *)4096, 0));
	T("get bad policy pointer", SC(SYS_get_mempolicy, BADPTR, NULL, 0, NULL, 0));
	T("get bad mask pointer", SC(SYS_get_mempolicy, &pol, BADPTR, 64, NULL, 0));
	m[0] = 0;
	T("get MEMS_ALLOWED", SC(SYS_get_mempolicy, &pol, m, 64, NULL, 4));
	printf("policy=%d mask=%#lx\n", pol, m[0]);

	static const char *modes[] = {"DEFAULT", "PREFERRED", "BIND", "INTERLEAVE", "LOCAL",
				      "PREFERRED_MANY", "WEIGHTED_INTERLEAVE", "7"};
	for (int mode = 0; mode < 8; mode++) {
		char label[64];
		unsigned long node0 = 1;
		snprintf(label, sizeof label, "set %s node0", modes[mode]);
		T(label, SC(SYS_set_mempolicy, mode, &node0, 2));
		get(label);
		snprintf(label, sizeof label, "set %s empty", modes[mode]);
		T(label, SC(SYS_set_mempolicy, mode, NULL, 0));
		get(label);
	}
	unsigned long n1 = 2, n01 = 3, n0 = 1;
	T("set BIND node1", SC(SYS_set_mempolicy, 2, &n1, 64));
	T("set BIND nodes 0,1", SC(SYS_set_mempolicy, 2, &n01, 64));
	get("BIND 0,1");
	T("set BIND|STATIC nodes 0,1", SC(SYS_set_mempolicy, 2 | (1 << 15), &n01, 64));
	get("BIND|STATIC");
	T("set BIND|RELATIVE node1", SC(SYS_set_mempolicy, 2 | (1 << 14), &n1, 64));
	get("BIND|RELATIVE");
	T("set STATIC|RELATIVE", SC(SYS_set_mempolicy, 2 | (3 << 14), &n0, 64));
	T("set INTERLEAVE|BALANCING", SC(SYS_set_mempolicy, 3 | (1 << 13), &n0, 64));
	T("set BIND|BALANCING", SC(SYS_set_mempolicy, 2 | (1 << 13), &n0, 64));
	get("BIND|BALANCING");
	T("set PREFERRED|STATIC empty", SC(SYS_set_mempolicy, 1 | (1 << 15), NULL, 0));
	T("set LOCAL with a node", SC(SYS_set_mempolicy, 4, &n0, 64));
	T("set bad mask pointer", SC(SYS_set_mempolicy, 2, BADPTR, 64));
	T("set maxnode 0", SC(SYS_set_mempolicy, 2, &n0, 0));
	T("set maxnode 1", SC(SYS_set_mempolicy, 2, &n0, 1));
	T("set maxnode 32770", SC(SYS_set_mempolicy, 2, &n0, 32770));
	memset(m, 0, sizeof m);
	m[0] = 1;
	m[15] = 1; /* node 960: offline but below MAX_NUMNODES */
	T("set node 0 and 960", SC(SYS_set_mempolicy, 2, m, 1025));
	m[15] = 0;
	m[16] = 1; /* node 1024: past MAX_NUMNODES */
	T("set node 0 and 1024", SC(SYS_set_mempolicy, 2, m, 1100));
	T("set INTERLEAVE", SC(SYS_set_mempolicy, 3, &n0, 2));
	pol = -1;
	T("get NODE while interleaving", SC(SYS_get_mempolicy, &pol, NULL, 0, NULL, 1));
	printf("node=%d\n", pol);
	fflush(stdout);
	if (fork() == 0) {
		get("inherited by a child");
		fflush(stdout);
		_exit(0);
	}
	wait(NULL);
	T("set DEFAULT", SC(SYS_set_mempolicy, 0, NULL, 0));

	/* mbind and per-range policies. */
	char *p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	get_at("fresh mapping", p);
	T("mbind BIND pages 1-2", SC(SYS_mbind, p + 4096, 2 * 4096, 2, &n0, 2, 0));
	get_at("page 0", p);
	get_at("page 1", p + 4096);
	get_at("page 2 (inside)", p + 2 * 4096 + 100);
	get_at("page 3", p + 3 * 4096);
	T("mbind INTERLEAVE page 2", SC(SYS_mbind, p + 2 * 4096, 4096, 3, &n0, 2, 0));
	get_at("page 1", p + 4096);
	get_at("page 2", p + 2 * 4096);
	T("mbind DEFAULT page 1", SC(SYS_mbind, p + 4096, 4096, 0, NULL, 0, 0));
	get_at("page 1", p + 4096);
	T("mbind unaligned", SC(SYS_mbind, p + 1, 4096, 2, &n0, 2, 0));
	T("mbind length 0", SC(SYS_mbind, p, 0, 2, NULL, 0, 0));
	T("mbind huge length", SC(SYS_mbind, p, -4096L, 2, &n0, 2, 0));
	T("mbind bad flags", SC(SYS_mbind, p, 4096, 2, &n0, 2, 8));
	T("mbind STRICT|MOVE|MOVE_ALL", SC(SYS_mbind, p, 4096, 2, &n0, 2, 7));
	T("mbind node1", SC(SYS_mbind, p, 4096, 2, &n1, 64, 0));
	T("mbind DEFAULT with a node", SC(SYS_mbind, p, 4096, 0, &n0, 64, 0));
	T("mbind mode 7", SC(SYS_mbind, p, 4096, 7, &n0, 64, 0));
	T("mbind LOCAL", SC(SYS_mbind, p, 4096, 4, NULL, 0, 0));
	get_at("page 0 LOCAL", p);
	T("mbind PREFERRED empty", SC(SYS_mbind, p, 4096, 1, NULL, 0, 0));
	get_at("page 0 PREFERRED empty", p);
	T("home node, INTERLEAVE range", SC(SYS_set_mempolicy_home_node, p + 2 * 4096, 4096, 0, 0));
	T("home node, no policy", SC(SYS_set_mempolicy_home_node, p + 3 * 4096, 4096, 0, 0));
	T("mbind BIND page 3", SC(SYS_mbind, p + 3 * 4096, 4096, 2, &n0, 2, 0));
	T("home node, BIND range", SC(SYS_set_mempolicy_home_node, p + 3 * 4096, 4096, 0, 0));
	T("home node 1", SC(SYS_set_mempolicy_home_node, p + 3 * 4096, 4096, 1, 0));
	T("home node flags", SC(SYS_set_mempolicy_home_node, p + 3 * 4096, 4096, 0, 1));
	T("home node unaligned", SC(SYS_set_mempolicy_home_node, p + 1, 4096, 0, 0));
	T("home node length 0", SC(SYS_set_mempolicy_home_node, p, 0, 0, 0));
	get_at("page 3 with a home node", p + 3 * 4096);
	munmap(p + 3 * 4096, 4096);
	T("mbind over a hole", SC(SYS_mbind, p, 4 * 4096, 2, &n0, 2, 0));
	T("mbind unmapped", SC(SYS_mbind, p + 3 * 4096, 4096, 2, &n0, 2, 0));
	get_at("unmapped", p + 3 * 4096);
	pol = -1;
	T("get NODE|ADDR", SC(SYS_get_mempolicy, &pol, NULL, 0, p, 3));
	printf("node=%d\n", pol);
	mprotect(p + 2 * 4096, 4096, PROT_NONE);
	T("get NODE|ADDR of PROT_NONE", SC(SYS_get_mempolicy, &pol, NULL, 0, p + 2 * 4096, 3));

	/* move_pages and migrate_pages. */
	p[0] = 1;
	/* Untouched: a mapping of its own (veil populates the pages around a
	 * fault, Linux only the one faulting for anonymous memory). */
	char *fresh = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *pages[4] = {p, fresh, p + 3 * 4096, BADPTR};
	int status[4] = {9, 9, 9, 9}, nodes[4] = {0, 0, 0, 0};
	T("move_pages query", SC(SYS_move_pages, 0, 4, pages, NULL, status, 0));
	printf("status %d %d %d %d\n", status[0], status[1], status[2], status[3]);
	T("move_pages to node 0", SC(SYS_move_pages, 0, 4, pages, nodes, status, 2));
	printf("status %d %d %d %d\n", status[0], status[1], status[2], status[3]);
	nodes[0] = 1;
	T("move_pages to node 1", SC(SYS_move_pages, 0, 1, pages, nodes, status, 0));
	nodes[0] = -1;
	T("move_pages to node -1", SC(SYS_move_pages, 0, 1, pages, nodes, status, 0));
	T("move_pages bad flags", SC(SYS_move_pages, 0, 1, pages, NULL, status, 1));
	T("move_pages no such pid", SC(SYS_move_pages, 999999, 1, pages, NULL, status, 0));
	T("move_pages bad status", SC(SYS_move_pages, 0, 1, pages, NULL, BADPTR, 0));
	T("move_pages bad pages", SC(SYS_move_pages, 0, 1, BADPTR, NULL, status, 0));
	T("move_pages count 0", SC(SYS_move_pages, 0, 0, pages, NULL, status, 0));
	T("migrate_pages 0 -> 0", SC(SYS_migrate_pages, 0, 2, &n0, &n0));
	T("migrate_pages 1 -> 0", SC(SYS_migrate_pages, 0, 2, &n1, &n0));
	T("migrate_pages 0 -> 1", SC(SYS_migrate_pages, 0, 2, &n0, &n1));
	T("migrate_pages own pid", SC(SYS_migrate_pages, getpid(), 2, &n0, &n0));
	T("migrate_pages no such pid", SC(SYS_migrate_pages, 999999, 2, &n0, &n0));
	T("migrate_pages bad mask", SC(SYS_migrate_pages, 0, 2, BADPTR, &n0));
	T("migrate_pages maxnode 0", SC(SYS_migrate_pages, 0, 0, &n0, &n0));
	printf("done\n");
	return 0;
}
