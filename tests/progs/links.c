/*
 * Links and names: symlink, symlinkat, readlink, readlinkat, link, linkat,
 * unlink, unlinkat, rename, renameat, renameat2 (RENAME_NOREPLACE).
 */
#include "common.h"

static void show_readlink(const char *label, const char *path, size_t size)
{
	char buf[PATH_MAX];
	memset(buf, '#', sizeof buf);
	long r = SC(SYS_readlink, path, buf, size);
	if (r == -1) {
		printf("%s = -1 %s\n", label, errname(errno));
		return;
	}
	printf("%s = %ld \"%.*s\" next_byte_untouched=%s\n", label, r, (int)r, buf,
	       buf[r] == '#' ? "yes" : "no");
}

static void show_file(const char *path)
{
	char buf[64];
	int fd = (int)SC(SYS_open, path, O_RDONLY);
	if (fd < 0) {
		printf("  %s: open = -1 %s\n", path, errname(errno));
		return;
	}
	long n = SC(SYS_read, fd, buf, sizeof buf);
	SC(SYS_close, fd);
	printf("  %s: \"%.*s\"\n", path, (int)(n < 0 ? 0 : n), buf);
}

static void show_type(const char *path)
{
	struct stat st;
	if (SC(SYS_lstat, path, &st) != 0) {
		printf("  %s: lstat = -1 %s\n", path, errname(errno));
		return;
	}
	printf("  %s: type=%s nlink=%lu\n", path, ftype(st.st_mode), (unsigned long)st.st_nlink);
}

static void test_symlinks(void)
{
	make_file("f", "contents of f", 0644);
	T("mkdir(d)", SC(SYS_mkdir, "d", 0755));
	make_file("d/g", "contents of d/g", 0644);
	int dfd = (int)T("open(d, O_DIRECTORY)", SC(SYS_open, "d", O_RDONLY | O_DIRECTORY));
	int ffd = (int)T("open(f)", SC(SYS_open, "f", O_RDONLY));

	T("symlink(f, l)", SC(SYS_symlink, "f", "l"));
	show_readlink("readlink(l)", "l", 100);
	T("symlink(some/long/target, lz)", SC(SYS_symlink, "some/long/target", "lz"));
	show_readlink("readlink(lz, bufsize 3) truncates", "lz", 3);
	show_readlink("readlink(lz, bufsize 16) exactly", "lz", 16);
	show_readlink("readlink(l, bufsize 0)", "l", 0);
	show_readlink("readlink(f) (not a symlink)", "f", 100);
	show_readlink("readlink(d)", "d", 100);
	show_readlink("readlink(nx)", "nx", 100);
	show_readlink("readlink(\"\")", "", 100);
	show_readlink("readlink(f/x)", "f/x", 100);
	show_readlink("readlink(BADPTR)", BADPTR, 100);
	T("readlink(l, BADPTR)", SC(SYS_readlink, "l", BADPTR, 100L));
	show_readlink("readlink(name of 256 bytes)", long_name(256), 100);
	show_file("l");

	T("symlink(f, l) again", SC(SYS_symlink, "f", "l"));
	T("symlink(x, f) (name exists)", SC(SYS_symlink, "x", "f"));
	T("symlink(\"\", e)", SC(SYS_symlink, "", "e"));
	T("symlink(x, nx/l)", SC(SYS_symlink, "x", "nx/l"));
	T("symlink(x, f/l)", SC(SYS_symlink, "x", "f/l"));
	T("symlink(BADPTR, l2)", SC(SYS_symlink, BADPTR, "l2"));
	T("symlink(x, BADPTR)", SC(SYS_symlink, "x", BADPTR));
	T("symlink(x, name of 256 bytes)", SC(SYS_symlink, "x", long_name(256)));
	T("symlink(target of 4096 bytes, lt)", SC(SYS_symlink, long_name(4096), "lt"));
	T("symlink(target of 4095 bytes, lt)", SC(SYS_symlink, long_name(4095), "lt"));
	show_type("lt");
	T("unlink(lt)", SC(SYS_unlink, "lt"));

	/* Relative targets resolve from the link's directory. */
	T("symlink(g, d/lg)", SC(SYS_symlink, "g", "d/lg"));
	show_file("d/lg");
	T("symlink(../f, d/lf)", SC(SYS_symlink, "../f", "d/lf"));
	show_file("d/lf");
	char abs[PATH_MAX + 8];
	snprintf(abs, sizeof abs, "%s/d/g", scratch);
	T("symlink($S/d/g, la) (absolute)", SC(SYS_symlink, abs, "la"));
	show_file("la");
	T("symlink(d, ld)", SC(SYS_symlink, "d", "ld"));
	show_file("ld/g");
	show_file("ld/lf");

	/* symlinkat / readlinkat */
	T("symlinkat(g, dfd, lg2)", SC(SYS_symlinkat, "g", dfd, "lg2"));
	show_file("d/lg2");
	T("symlinkat(g, -1, x)", SC(SYS_symlinkat, "g", BADFD, "x"));
	T("symlinkat(g, 9999, x)", SC(SYS_symlinkat, "g", BIGFD, "x"));
	T("symlinkat(g, regular-file fd, x)", SC(SYS_symlinkat, "g", ffd, "x"));
	char buf[64];
	long n = T("readlinkat(dfd, lg2)", SC(SYS_readlinkat, dfd, "lg2", buf, sizeof buf));
	printf("  \"%.*s\"\n", (int)(n < 0 ? 0 : n), buf);
	n = T("readlinkat(AT_FDCWD, d/lf)", SC(SYS_readlinkat, AT_FDCWD, "d/lf", buf, sizeof buf));
	printf("  \"%.*s\"\n", (int)(n < 0 ? 0 : n), buf);
	T("readlinkat(-1, lg2)", SC(SYS_readlinkat, BADFD, "lg2", buf, sizeof buf));
	T("readlinkat(9999, lg2)", SC(SYS_readlinkat, BIGFD, "lg2", buf, sizeof buf));
	T("readlinkat(dfd, g) (not a symlink)", SC(SYS_readlinkat, dfd, "g", buf, sizeof buf));
	T("readlinkat(dfd, lg2, bufsize -1)", SC(SYS_readlinkat, dfd, "lg2", buf, -1L));
	T("readlinkat(dfd, \"\") (dfd not a symlink)", SC(SYS_readlinkat, dfd, "", buf, sizeof buf));
	T("readlinkat(dfd, BADPTR)", SC(SYS_readlinkat, dfd, BADPTR, buf, sizeof buf));

	/* Loops and the 40-link limit. */
	T("symlink(loop2, loop1)", SC(SYS_symlink, "loop2", "loop1"));
	T("symlink(loop1, loop2)", SC(SYS_symlink, "loop1", "loop2"));
	T("open(loop1)", SC(SYS_open, "loop1", O_RDONLY));
	T("open(loop1, O_CREAT)", SC(SYS_open, "loop1", O_CREAT | O_WRONLY, 0644));
	show_readlink("readlink(loop1)", "loop1", 100);
	T("symlink(self, self)", SC(SYS_symlink, "self", "self"));
	T("open(self/x)", SC(SYS_open, "self/x", O_RDONLY));
	T("open(l, O_NOFOLLOW)", SC(SYS_open, "l", O_RDONLY | O_NOFOLLOW));
	T("open(ld/g, O_NOFOLLOW) (only the last component)", SC(SYS_open, "ld/g", O_RDONLY | O_NOFOLLOW));
	T("close(that)", SC(SYS_close, 5));
	/* chain: c0 -> f, c1 -> c0, ..., c40 -> c39 */
	T("symlink(f, c0)", SC(SYS_symlink, "f", "c0"));
	for (int i = 1; i <= 40; i++) {
		char from[16], to[16];
		snprintf(from, sizeof from, "c%d", i - 1);
		snprintf(to, sizeof to, "c%d", i);
		if (SC(SYS_symlink, from, to) != 0)
			printf("symlink(%s, %s) = -1 %s\n", from, to, errname(errno));
	}
	T("open(c39) (40 links)", SC(SYS_open, "c39", O_RDONLY));
	T("close(that)", SC(SYS_close, 5));
	T("open(c40) (41 links)", SC(SYS_open, "c40", O_RDONLY));
	for (int i = 0; i <= 40; i++) {
		char name[16];
		snprintf(name, sizeof name, "c%d", i);
		SC(SYS_unlink, name);
	}
	T("close(d)", SC(SYS_close, dfd));
	T("close(f)", SC(SYS_close, ffd));
}

static void test_hardlinks(void)
{
	int dfd = (int)T("open(d, O_DIRECTORY)", SC(SYS_open, "d", O_RDONLY | O_DIRECTORY));
	T("link(f, h)", SC(SYS_link, "f", "h"));
	show_type("f");
	show_file("h");
	T("link(f, h) again", SC(SYS_link, "f", "h"));
	T("link(nx, h2)", SC(SYS_link, "nx", "h2"));
	T("link(d, dl) (directory)", SC(SYS_link, "d", "dl"));
	T("link(f, nx/h)", SC(SYS_link, "f", "nx/h"));
	T("link(f/x, h2)", SC(SYS_link, "f/x", "h2"));
	T("link(BADPTR, h2)", SC(SYS_link, BADPTR, "h2"));
	T("link(f, BADPTR)", SC(SYS_link, "f", BADPTR));
	T("link(f, name of 256 bytes)", SC(SYS_link, "f", long_name(256)));
	T("link(l, hl) (does not follow)", SC(SYS_link, "l", "hl"));
	show_type("hl");
	T("linkat(AT_FDCWD, l, AT_FDCWD, hf, AT_SYMLINK_FOLLOW)", SC(SYS_linkat, AT_FDCWD, "l", AT_FDCWD, "hf", AT_SYMLINK_FOLLOW));
	show_type("hf");
	T("linkat(AT_FDCWD, f, dfd, h3, 0)", SC(SYS_linkat, AT_FDCWD, "f", dfd, "h3", 0));
	show_type("d/h3");
	T("linkat(dfd, g, AT_FDCWD, hg, 0)", SC(SYS_linkat, dfd, "g", AT_FDCWD, "hg", 0));
	show_file("hg");
	T("linkat(AT_FDCWD, f, AT_FDCWD, h4, 0x1)", SC(SYS_linkat, AT_FDCWD, "f", AT_FDCWD, "h4", 0x1));
	T("linkat(-1, f, AT_FDCWD, h4, 0)", SC(SYS_linkat, BADFD, "f", AT_FDCWD, "h4", 0));
	T("linkat(AT_FDCWD, f, 9999, h4, 0)", SC(SYS_linkat, AT_FDCWD, "f", BIGFD, "h4", 0));

	/* unlink / unlinkat */
	T("unlink(h)", SC(SYS_unlink, "h"));
	show_type("f");
	T("unlink(h) again", SC(SYS_unlink, "h"));
	T("unlink(d) (directory)", SC(SYS_unlink, "d"));
	T("unlink(f/x)", SC(SYS_unlink, "f/x"));
	T("unlink(f/)", SC(SYS_unlink, "f/"));
	T("unlink(\"\")", SC(SYS_unlink, ""));
	T("unlink(BADPTR)", SC(SYS_unlink, BADPTR));
	T("unlink(name of 256 bytes)", SC(SYS_unlink, long_name(256)));
	T("unlink(ld) (removes the link, not d)", SC(SYS_unlink, "ld"));
	show_type("d");
	T("unlinkat(dfd, h3, 0)", SC(SYS_unlinkat, dfd, "h3", 0));
	T("unlinkat(AT_FDCWD, hl, 0)", SC(SYS_unlinkat, AT_FDCWD, "hl", 0));
	T("mkdir(e)", SC(SYS_mkdir, "e", 0755));
	T("unlinkat(AT_FDCWD, e, 0)", SC(SYS_unlinkat, AT_FDCWD, "e", 0));
	T("unlinkat(AT_FDCWD, hf, AT_REMOVEDIR)", SC(SYS_unlinkat, AT_FDCWD, "hf", AT_REMOVEDIR));
	T("unlinkat(AT_FDCWD, e, 0x1)", SC(SYS_unlinkat, AT_FDCWD, "e", 0x1));
	T("unlinkat(AT_FDCWD, e, AT_REMOVEDIR)", SC(SYS_unlinkat, AT_FDCWD, "e", AT_REMOVEDIR));
	T("unlinkat(AT_FDCWD, d, AT_REMOVEDIR) (not empty)", SC(SYS_unlinkat, AT_FDCWD, "d", AT_REMOVEDIR));
	T("unlinkat(-1, hf, 0)", SC(SYS_unlinkat, BADFD, "hf", 0));
	T("unlinkat(9999, hf, 0)", SC(SYS_unlinkat, BIGFD, "hf", 0));
	T("unlinkat(AT_FDCWD, hf, 0)", SC(SYS_unlinkat, AT_FDCWD, "hf", 0));
	T("unlink(hg)", SC(SYS_unlink, "hg"));
	T("close(d)", SC(SYS_close, dfd));
}

static void test_rename(void)
{
	T("mkdir(r)", SC(SYS_mkdir, "r", 0755));
	T("chdir(r)", SC(SYS_chdir, "r"));
	make_file("a", "A", 0644);
	make_file("b", "B", 0644);
	T("mkdir(da)", SC(SYS_mkdir, "da", 0755));
	T("mkdir(db)", SC(SYS_mkdir, "db", 0755));
	make_file("db/x", "X", 0644);
	T("mkdir(de)", SC(SYS_mkdir, "de", 0755));

	T("rename(a, a2)", SC(SYS_rename, "a", "a2"));
	show_file("a");
	show_file("a2");
	T("rename(a2, b) (replaces b)", SC(SYS_rename, "a2", "b"));
	show_file("a2");
	show_file("b");
	T("rename(b, b) (same name)", SC(SYS_rename, "b", "b"));
	show_file("b");
	T("link(b, b2)", SC(SYS_link, "b", "b2"));
	T("rename(b, b2) (same inode: nothing happens)", SC(SYS_rename, "b", "b2"));
	show_type("b");
	show_type("b2");
	T("unlink(b2)", SC(SYS_unlink, "b2"));
	T("rename(nx, y)", SC(SYS_rename, "nx", "y"));
	T("rename(b, nx/y)", SC(SYS_rename, "b", "nx/y"));
	T("rename(b, da) (file over directory)", SC(SYS_rename, "b", "da"));
	T("rename(da, b) (directory over file)", SC(SYS_rename, "da", "b"));
	T("rename(da, db) (over a non-empty directory)", SC(SYS_rename, "da", "db"));
	T("rename(da, de) (over an empty directory)", SC(SYS_rename, "da", "de"));
	show_type("da");
	show_type("de");
	T("rename(de, de/sub) (into itself)", SC(SYS_rename, "de", "de/sub"));
	T("rename(db, db/x/y)", SC(SYS_rename, "db", "db/x/y"));
	T("rename(db/x, x) (out of a directory)", SC(SYS_rename, "db/x", "x"));
	show_file("x");
	T("rename(x, db/x) (back)", SC(SYS_rename, "x", "db/x"));
	show_file("db/x");
	T("rename(., z)", SC(SYS_rename, ".", "z"));
	T("rename(b, .)", SC(SYS_rename, "b", "."));
	T("rename(BADPTR, z)", SC(SYS_rename, BADPTR, "z"));
	T("rename(b, BADPTR)", SC(SYS_rename, "b", BADPTR));
	T("rename(b, name of 256 bytes)", SC(SYS_rename, "b", long_name(256)));
	T("rename(b/, c)", SC(SYS_rename, "b/", "c"));
	T("rename(de/, df/) (directories may have slashes)", SC(SYS_rename, "de/", "df/"));
	show_type("df");

	int dfd = (int)T("open(db, O_DIRECTORY)", SC(SYS_open, "db", O_RDONLY | O_DIRECTORY));
	T("renameat(dfd, x, AT_FDCWD, x2)", SC(SYS_renameat, dfd, "x", AT_FDCWD, "x2"));
	show_file("x2");
	T("renameat(AT_FDCWD, x2, dfd, x)", SC(SYS_renameat, AT_FDCWD, "x2", dfd, "x"));
	show_file("db/x");
	T("renameat(-1, x, AT_FDCWD, y)", SC(SYS_renameat, BADFD, "x", AT_FDCWD, "y"));
	T("renameat(dfd, x, 9999, y)", SC(SYS_renameat, dfd, "x", BIGFD, "y"));

	/* renameat2 */
	make_file("n1", "N1", 0644);
	make_file("n2", "N2", 0644);
	T("renameat2(n1, n2, RENAME_NOREPLACE) (exists)", SC(SYS_renameat2, AT_FDCWD, "n1", AT_FDCWD, "n2", RENAME_NOREPLACE));
	show_file("n1");
	show_file("n2");
	T("renameat2(n1, n3, RENAME_NOREPLACE)", SC(SYS_renameat2, AT_FDCWD, "n1", AT_FDCWD, "n3", RENAME_NOREPLACE));
	show_file("n1");
	show_file("n3");
	T("renameat2(n3, n2, 0) (replaces)", SC(SYS_renameat2, AT_FDCWD, "n3", AT_FDCWD, "n2", 0));
	show_file("n2");
	T("renameat2(n2, n4, 0x100)", SC(SYS_renameat2, AT_FDCWD, "n2", AT_FDCWD, "n4", 0x100));
	T("renameat2(n2, n4, RENAME_EXCHANGE|RENAME_NOREPLACE)",
	  SC(SYS_renameat2, AT_FDCWD, "n2", AT_FDCWD, "n4", RENAME_EXCHANGE | RENAME_NOREPLACE));
	T("renameat2(nx, n4, RENAME_NOREPLACE)", SC(SYS_renameat2, AT_FDCWD, "nx", AT_FDCWD, "n4", RENAME_NOREPLACE));
	T("renameat2(df, db, RENAME_NOREPLACE) (directory exists)", SC(SYS_renameat2, AT_FDCWD, "df", AT_FDCWD, "db", RENAME_NOREPLACE));
	T("renameat2(dfd, x, dfd, x5, RENAME_NOREPLACE)", SC(SYS_renameat2, dfd, "x", dfd, "x5", RENAME_NOREPLACE));
	show_file("db/x5");
	T("close(db)", SC(SYS_close, dfd));
	T("chdir(..)", SC(SYS_chdir, ".."));
}

int main(int argc, char **argv)
{
	setup(argc, argv, "links");
	test_symlinks();
	test_hardlinks();
	test_rename();
	printf("done\n");
	return 0;
}
