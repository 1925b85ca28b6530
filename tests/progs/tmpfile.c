/*
 * O_TMPFILE: unnamed files in a directory, and linkat giving them a name.
 */
#include "common.h"
#include <dirent.h>

#ifndef O_TMPFILE
#define O_TMPFILE (020000000 | O_DIRECTORY)
#endif
#define O_TMPFILE_ONLY 020000000

static int entries(const char *dir)
{
	DIR *d = opendir(dir);
	int n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
	if (d)
		closedir(d);
	return n;
}

/* /proc/self/fd/N of an O_TMPFILE file, with the inode number hidden. */
static void show_link(const char *label, int fd)
{
	char p[64], buf[PATH_MAX];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(p, buf, sizeof buf - 1);
	if (n < 0) {
		printf("%s: -1 %s\n", label, errname(errno));
		return;
	}
	buf[n] = 0;
	char *hash = strrchr(buf, '#');
	if (hash) {
		char *end = hash + 1;
		while (*end >= '0' && *end <= '9')
			end++;
		memmove(hash + 4, end, strlen(end) + 1);
		memcpy(hash, "#INO", 4);
	}
	printf("%s: %s\n", label, spath(buf));
}

static long same_file(int fd, const char *path)
{
	struct stat a, b;
	if (fstat(fd, &a) != 0 || stat(path, &b) != 0)
		return -1;
	return a.st_ino == b.st_ino && a.st_dev == b.st_dev;
}

int main(int argc, char **argv)
{
	setup(argc, argv, "tmpfile");
	umask(022);
	T("mkdir d", mkdir("d", 0755));
	T("symlink to d", symlink("d", "dl"));
	make_file("plain", "x", 0644);

	printf("-- flags\n");
	T("O_TMPFILE|O_RDONLY", open("d", O_TMPFILE | O_RDONLY, 0600));
	T("__O_TMPFILE without O_DIRECTORY", open("d", O_TMPFILE_ONLY | O_RDWR, 0600));
	T("O_TMPFILE|O_CREAT", open("d", O_TMPFILE | O_CREAT | O_RDWR, 0600));
	T("on a regular file", open("plain", O_TMPFILE | O_RDWR, 0600));
	T("on a missing directory", open("missing", O_TMPFILE | O_RDWR, 0600));
	T("through a symlink with O_NOFOLLOW", open("dl", O_TMPFILE | O_RDWR | O_NOFOLLOW, 0600));
	int fd = open("dl", O_TMPFILE | O_RDWR, 0600);
	T("through a symlink", fd >= 0);
	close(fd);
	fd = open("d/", O_TMPFILE | O_WRONLY | O_APPEND | O_TRUNC, 0600);
	T("with a trailing slash, O_WRONLY|O_APPEND|O_TRUNC", fd >= 0);
	close(fd);
	fd = open("d", O_TMPFILE | O_RDWR | O_PATH, 0600);
	T("O_TMPFILE|O_PATH opens the directory as O_PATH", fd >= 0);
	struct stat st;
	fstat(fd, &st);
	printf("  it is a %s\n", ftype(st.st_mode));
	close(fd);
	T("in /proc", open("/proc", O_TMPFILE | O_RDWR, 0600));

	printf("-- an unnamed file\n");
	fd = open("d", O_TMPFILE | O_RDWR, 0666);
	T("O_TMPFILE|O_RDWR", fd >= 0);
	T("F_GETFL", fcntl(fd, F_GETFL));
	fstat(fd, &st);
	printf("fstat: %s mode=%o nlink=%ld size=%ld\n", ftype(st.st_mode),
	       (unsigned)(st.st_mode & 07777), (long)st.st_nlink, (long)st.st_size);
	T("entries in d", entries("d"));
	show_link("/proc/self/fd", fd);
	T("write", write(fd, "temporary", 9));
	T("pread", pread(fd, (char[16]){0}, 16, 0));
	T("fchmod 0640", fchmod(fd, 0640));

	printf("-- linking it\n");
	T("linkat AT_EMPTY_PATH", linkat(fd, "", AT_FDCWD, "d/named", AT_EMPTY_PATH));
	T("same file", same_file(fd, "d/named"));
	fstat(fd, &st);
	printf("nlink=%ld size=%ld mode=%o\n", (long)st.st_nlink, (long)st.st_size,
	       (unsigned)(st.st_mode & 07777));
	T("entries in d", entries("d"));
	show_link("/proc/self/fd after linking", fd);
	T("linkat again, another name", linkat(fd, "", AT_FDCWD, "second", AT_EMPTY_PATH));
	fstat(fd, &st);
	printf("nlink=%ld\n", (long)st.st_nlink);
	T("unlink d/named", unlink("d/named"));
	T("unlink second", unlink("second"));
	T("linkat once unlinked again", linkat(fd, "", AT_FDCWD, "d/again", AT_EMPTY_PATH));
	close(fd);

	fd = open("d", O_TMPFILE | O_RDWR | O_EXCL, 0600);
	T("O_TMPFILE|O_EXCL", fd >= 0);
	T("linkat of an O_EXCL file", linkat(fd, "", AT_FDCWD, "d/excl", AT_EMPTY_PATH));
	close(fd);

	fd = open(".", O_TMPFILE | O_RDWR, 0600);
	char p[64];
	snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
	T("linkat /proc/self/fd/N without AT_SYMLINK_FOLLOW", linkat(AT_FDCWD, p, AT_FDCWD, "viaproc", 0));
	T("linkat /proc/self/fd/N with AT_SYMLINK_FOLLOW",
	  linkat(AT_FDCWD, p, AT_FDCWD, "viaproc", AT_SYMLINK_FOLLOW));
	T("same file", same_file(fd, "viaproc"));
	T("linkat to an existing name", linkat(fd, "", AT_FDCWD, "plain", AT_EMPTY_PATH));
	close(fd);

	printf("-- an unnamed file goes with its last descriptor\n");
	fd = open("d", O_TMPFILE | O_RDWR, 0600);
	int dup_fd = dup(fd);
	close(fd);
	T("write through the dup", write(dup_fd, "still here", 10));
	T("entries in d", entries("d"));
	close(dup_fd);
	T("entries in d", entries("d"));
	return 0;
}
