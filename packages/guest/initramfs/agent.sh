#!/bin/sh
# iohang guest command agent: runs shell commands the host sends over the second serial port.
#
# Protocol (host side: packages/guest/src/agent-protocol.ts; keep the two in sync):
#   1. The agent sets /dev/ttyS1 raw with no echo and prints "@@IOHANG-AGENT-READY".
#   2. Host -> guest, one line per command: "<id> <base64 of the shell command>\n",
#      id a decimal integer unique among running commands. Other lines are ignored.
#   3. Every command runs concurrently in the background, so one that blocks on hung disk
#      I/O does not hold up the others: sh -c CMD, stdin /dev/null, stdout+stderr to a file.
#   4. Guest -> host when it ends, one block at a time (blocks never interleave):
#        @@IOHANG-BEGIN <id>
#        <base64 of the output, over any number of lines>
#        @@IOHANG-END <id> <exit code>
#
# Debian's busybox-static has no flock applet, so blocks are serialised by a single writer:
# a finished command writes its block to a file and its id (one short line, an atomic pipe
# write) to a FIFO; the writer copies the blocks to the port in that order.

port=${IOHANG_AGENT_PORT:-/dev/ttyS1}
work=/run/iohang-agent
mkdir -p "$work"

# fd 3: the port, open for the agent's lifetime so its settings stay as set here.
exec 3<>"$port"
stty raw -echo <&3 || exit 1
# fd 4: the FIFO of finished ids; opened read-write so it never reports end-of-file.
rm -f "$work/done"
mkfifo "$work/done"
exec 4<>"$work/done"

# The only writer of result blocks.
while read -r id <&4; do
  cat "$work/$id.block" >&3
  rm -f "$work/$id.block"
done &

echo "@@IOHANG-AGENT-READY" >&3

# run ID BASE64: one command, from decoding to its result block. Runs in the background.
run() {
  out=$work/$1.out
  if cmd=$(printf '%s' "$2" | base64 -d 2>"$out"); then
    sh -c "$cmd" </dev/null >"$out" 2>&1 3>&- 4>&-
    rc=$?
  else
    rc=255
  fi
  { echo "@@IOHANG-BEGIN $1"; base64 <"$out"; echo "@@IOHANG-END $1 $rc"; } >"$work/$1.block"
  rm -f "$out"
  echo "$1" >&4
}

while read -r id b64 <&3; do
  case $id in '' | *[!0-9]*) continue ;; esac
  run "$id" "$b64" &
done
