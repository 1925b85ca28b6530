# tar czf then tar xzf: the extracted tree has the same checksums.
set -e
mkdir -p tree/a/b
cp -a /usr/share/doc/gcc-12-base tree/a/
head -c 300000 /bin/busybox > tree/a/b/blob
ln -s ../blob tree/a/b/link
tar czf t.tgz tree
mkdir out
tar xzf t.tgz -C out
(cd tree && find . -type f | sort | xargs sha256sum) > one
(cd out/tree && find . -type f | sort | xargs sha256sum) > two
cmp one two && echo checksums equal
wc -l < one
tar tzf t.tgz | sort | head -5
readlink out/tree/a/b/link
