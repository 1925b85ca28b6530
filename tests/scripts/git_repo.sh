# git in a fresh directory: init, add, commit, log, branch, diff, status.
# Fixed identities and dates make the commit ids equal on both sides.
set -e
export GIT_AUTHOR_NAME=a GIT_AUTHOR_EMAIL=a@example.com GIT_COMMITTER_NAME=a GIT_COMMITTER_EMAIL=a@example.com
export GIT_AUTHOR_DATE='2020-01-01T00:00:00Z' GIT_COMMITTER_DATE='2020-01-01T00:00:00Z'
export HOME=$PWD GIT_CONFIG_NOSYSTEM=1
git init -q -b main repo
cd repo
printf 'hello\n' > f
mkdir d && printf 'x\ny\n' > d/g
git add .
git commit -q -m first
git log --oneline
git checkout -q -b topic
printf 'z\n' >> d/g
git commit -q -am second
git log --oneline main..topic
git diff main --stat
git checkout -q main
git merge -q --ff-only topic
git log --oneline | wc -l
printf 'dirty\n' > f
git status --short
git stash -q
git status --short | wc -l
git fsck -q && echo fsck ok
git gc -q && git count-objects -v | grep -c pack
