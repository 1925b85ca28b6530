echo pipeline: $(echo a b c | tr ' ' '\n' | sort -r | head -2 | tr '\n' ,)
( cd /; echo subshell $(pwd) ); echo after $(basename $(pwd))
x=$(echo sub $(echo nested)); echo "$x"
sleep 0.1 & p1=$!; (exit 5) & p2=$!; wait $p1; echo w1=$?; wait $p2; echo w2=$?
trap 'echo got USR1' USR1; kill -USR1 $$; echo after-trap
cat <<EOT
here $x
doc
EOT
echo 1 2 3 4 5 | xargs -n 2 echo
find /usr/share/doc | sort | uniq -c | wc -l
sh -c 'exit 3'; echo status=$?
sh -c 'kill -TERM $$'; echo killed=$?
sh -c 'kill -KILL $$'; echo killed=$?
sleep 10 & kill $!; wait $!; echo term=$?
