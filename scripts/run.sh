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
	"$ctl" init "$data" --domain "$domain" --admin "admin@$domain"
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
# The web admin page, where http.admin_port (5280 from init) serves it.
admin_port=$(sed -n 's/^[[:space:]]*admin_port = \([0-9]*\);.*/\1/p' "$conf" | head -n 1)
if [ -n "$admin_port" ] && [ "$admin_port" != 0 ]; then
	echo "web admin page: https://127.0.0.1:$admin_port/admin/ (log in as admin@$domain; accept the self-signed certificate)"
fi
# Web clients (Converse.js, xmpp.js, ...) on the web listener, where
# http.web_port (5281 from init) serves it.
setting() { sed -n "s/^[[:space:]]*$1 = \"\{0,1\}\([^\";]*\)\"\{0,1\};.*/\1/p" "$conf" | head -n 1; }
web_port=$(setting web_port)
if [ -n "$web_port" ] && [ "$web_port" != 0 ]; then
	ws_path=$(setting websocket_path)
	bosh_path=$(setting bosh_path)
	if [ -n "$ws_path" ]; then
		echo "XMPP over WebSocket: wss://$domain:$web_port$ws_path (accept the self-signed certificate)"
	fi
	if [ -n "$bosh_path" ]; then
		echo "BOSH: https://$domain:$web_port$bosh_path"
	fi
fi
# The shared port (mux.port, 5443 from init): clients, servers and HTTP on one port.
mux_port=$(sed -n '/^mux: {/,/^}/s/^[[:space:]]*port = \([0-9]*\);.*/\1/p' "$conf" | head -n 1)
if [ -n "$mux_port" ] && [ "$mux_port" != 0 ]; then
	echo "one port for everything: $domain:$mux_port (direct TLS; ALPN xmpp-client, xmpp-server or http/1.1:" \
		"wss://$domain:$mux_port$(setting websocket_path), https://$domain:$mux_port$(setting bosh_path))"
fi
echo "starting parleyd; stop it with Ctrl-C"
exec "$build/src/server/parleyd" -c "$conf"
