#!/bin/sh
# make run: a working server from an embedded default.  On the first start
# it creates the instance (configuration, certificate, database) in DATA and
# an admin account with a random password; later starts reuse them.
set -eu
build="$1"
data="$2"
domain="$3"
ctl="$build/src/ctl/parleyctl"
conf="$data/parley.conf"

if [ ! -f "$conf" ]; then
	"$ctl" init "$data" --domain "$domain"
	echo
	"$ctl" -c "$conf" user add "admin@$domain" --random-password | tee "$data/admin.txt"
	chmod 600 "$data/admin.txt"
	cat <<MSG

Parley is set up in $data/ (the admin password is kept in $data/admin.txt).
Connect a client (Gajim, Dino, Conversations, Converse.js, ...) as admin@$domain
to 127.0.0.1 port 5222 (STARTTLS) or 5223 (direct TLS).  The certificate is
self-signed: accept it in the client, or use a real one in $conf.
More accounts:  $ctl -c $conf user add alice@$domain
MSG
else
	echo "using the instance in $data/ (admin: admin@$domain, password in $data/admin.txt)"
fi
echo "starting parleyd; stop it with Ctrl-C"
exec "$build/src/server/parleyd" -c "$conf"
