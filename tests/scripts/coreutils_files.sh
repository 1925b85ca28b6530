# GNU coreutils and findutils over files the script makes (times fixed so
# that listings compare equal). Directory sizes are not printed: the
# sandbox's writes land on tmpfs, whose directories are not 4096 bytes.
set -e
umask 022
cp -a /usr/share/doc/gcc-12-base src
mkdir -p work/sub/deep
printf 'one\n' > work/a
printf 'two two\n' > work/sub/b
printf 'three three three\n' > work/sub/deep/c
touch -d '2020-01-02 03:04:05' work/a work/sub/b
touch -d '2021-06-07 08:09:10' work/sub/deep/c
cp -a work copy
mv copy/a copy/a-moved
ln -s ../work/a copy/link
touch -h -d '2022-02-02 02:02:02' copy/link
ln work/a work/hard
chmod -R go-rwx copy
touch -d '2020-06-01' stamp
echo "find -newer:"; find work copy -newer stamp | sort
echo "ls -la:"; ls -la --time-style=+%F_%T work/a work/hard work/sub/b copy/a-moved copy/link
echo "ls -lR:"; ls -lR --time-style=+%F copy | grep -v '^total' | awk '/^d/ {$5 = "-"} {$1 = $1; print}'
echo "stat:"; stat -c '%n %A %s %h %F %Y' work/a work/hard copy/link copy/sub/deep/c
stat -L -c '%n %A %s %F' copy/link
echo "du:"; du -s --apparent-size -b work/a work/sub/b
echo "cmp:"; cmp src/copyright /usr/share/doc/gcc-12-base/copyright && echo same
echo "ls src:"; ls -l --time-style=+%F src | grep -v '^total' | awk '/^d/ {$5 = "-"} {$1 = $1; print}'
echo "df:"; df -P . | head -1 | awk '{print $1, $2}'
echo "sha:"; find work copy -type f | sort | xargs sha256sum
rm -r copy/sub; ls copy
echo "readlink:"; readlink copy/link; readlink -f work/../work/sub/deep/c | sed "s|$PWD|.|"
echo done
