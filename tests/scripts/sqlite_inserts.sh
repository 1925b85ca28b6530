# sqlite3: 10,000 inserts in one transaction, an index and queries.
set -e
{
  echo 'create table t(id integer primary key, name text, n int);'
  echo 'begin;'
  i=1
  while [ $i -le 10000 ]; do
    echo "insert into t(name, n) values('row$i', $((i * 7 % 1000)));"
    i=$((i + 1))
  done
  echo 'commit;'
} > load.sql
sqlite3 db.sqlite < load.sql
sqlite3 db.sqlite 'create index tn on t(n); select count(*), sum(n), max(name) from t; select n, count(*) from t group by n order by count(*) desc, n limit 3; pragma integrity_check;'
sqlite3 db.sqlite 'pragma journal_mode=wal; update t set n = n + 1 where id % 2 = 0; select sum(n) from t;'
