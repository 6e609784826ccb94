#!/bin/sh
# Tests of parleyctl's certificate tooling (issue 4): `init` makes empty
# trust stores; `cert` makes a CA (root and intermediates), client, server
# and self-signed certificates, PKCS#12 bundles, revocations and CRLs;
# `cert show` prints the identities and the client trust store's verdict
# with the server's reasons and exits 0 (accepted or not checked) or 1;
# `trust` adds, lists and removes CAs; `user cert` pins fingerprints;
# `user add --no-password` makes certificate-only accounts.
#
# Every certificate is made here by parleyctl.  Exit codes are checked on
# every call, so a sanitizer report (which changes the exit code) fails the
# test too.  Usage: test_ctl.sh PATH/TO/parleyctl
set -u
P=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
T=$(mktemp -d /tmp/parley-ctl-XXXXXX)
trap 'rm -rf "$T"' EXIT
cd "$T" || exit 1
fails=0
n=0

# run EXPECTED_RC NEEDLE CMD...: runs parleyctl, checks its exit code and
# that stdout+stderr contain NEEDLE ("" for anything).
run() {
	want=$1 needle=$2
	shift 2
	n=$((n + 1))
	out=$("$P" "$@" 2>&1)
	rc=$?
	if [ "$rc" -ne "$want" ]; then
		echo "FAIL #$n: parleyctl $* exited $rc, expected $want"
		echo "$out" | sed 's/^/    /'
		fails=$((fails + 1))
		return
	fi
	case "$out" in
	*"$needle"*) ;;
	*)
		echo "FAIL #$n: parleyctl $* output lacks: $needle"
		echo "$out" | sed 's/^/    /'
		fails=$((fails + 1))
		;;
	esac
}

# setting NAME VALUE: sets c2s.NAME in the configuration.
setting() {
	sed -i "s|^  $1 = .*;|  $1 = $2;|" inst/parley.conf
	grep -q "^  $1 = $2;" inst/parley.conf || { echo "FAIL: cannot set $1"; fails=$((fails + 1)); }
}

C="-c inst/parley.conf"

# ---- init makes the trust stores ----
run 0 "created" init inst --domain example.org
for d in trust/client trust/s2s; do
	[ -d "inst/$d" ] || { echo "FAIL: init made no $d"; fails=$((fails + 1)); }
done
grep -q '^  client_certs = "wanted";' inst/parley.conf || { echo "FAIL: client_certs default"; fails=$((fails + 1)); }
grep -q '^  mechanisms = \["EXTERNAL", ' inst/parley.conf || { echo "FAIL: EXTERNAL not first"; fails=$((fails + 1)); }
run 0 "no trusted CA (no client certificate can verify)" $C trust list --store client

# ---- a CA and the issue's certificates ----
run 0 'created CA "CN=Test CA"' cert ca init ca --name "Test CA"
[ "$(stat -c %a ca/ca.key)" = 600 ] || { echo "FAIL: CA key mode"; fails=$((fails + 1)); }
run 1 "holds a CA already" cert ca init ca
run 0 "RSA 3072" cert ca init other --rsa --name "Other CA"
run 0 "intermediate" cert ca init sub1 --ca ca --name "Sub 1"
run 0 "intermediate" cert ca init sub2 --ca sub1 --name "Sub 2"
# Regression: without --name every level was "Parley Intermediate CA", so a
# second-level CA had its issuer's name (it looked self-issued).
run 0 'created CA "CN=Parley Intermediate CA" in dflt1' cert ca init dflt1 --ca ca
run 0 'created CA "CN=Parley Intermediate CA 2" in dflt2' cert ca init dflt2 --ca dflt1

run 0 "issued a client certificate for alice@example.org" cert issue client alice@example.org --ca ca --out alice
[ "$(stat -c %a alice.key)" = 600 ] || { echo "FAIL: key mode"; fails=$((fails + 1)); }
run 1 "exists already" cert issue client alice@example.org --ca ca --out alice
run 0 "issued" cert issue client alice@example.org --ca ca --out alice --force
run 0 "issued" cert issue client bob@example.org --ca ca --xmpp-addr carol@example.org --out two
run 0 "issued" cert issue client dev42@example.org --ca ca --no-xmpp-addr --out cnonly
run 0 "issued" cert issue client dave@example.org --ca ca --no-xmpp-addr --cn dave@example.org --out cnjid
run 0 "issued" cert issue client eve@other.org --ca ca --out otherdomain
run 0 "expired, as asked" cert issue client old@example.org --ca ca --expired --out expired
run 0 "issued" cert issue client mallory@example.org --ca other --out untrusted
run 0 "issued a self-signed client certificate" cert self-signed client self@example.org --out self
run 0 "with its intermediate CAs" cert issue client deep@example.org --ca sub2 --out deep
run 0 "issued" cert issue client gone@example.org --ca ca --out revoked
run 0 "issued" cert issue client srv@example.org --ca ca --eku serverAuth --out wrongeku
run 0 "issued a server certificate for example.org" cert issue server example.org --ca ca --dns conference.example.org --out server
echo "s3cret" | "$P" cert issue client gajim@example.org --ca ca --p12-password-stdin --out gajim >/dev/null 2>&1 ||
	{ echo "FAIL: --p12-password-stdin"; fails=$((fails + 1)); }
[ "$(grep -c BEGIN deep.crt)" = 3 ] || { echo "FAIL: deep.crt lacks its chain"; fails=$((fails + 1)); }
run 2 "--ca DIR is required" cert issue client x@example.org
run 2 "a self-signed certificate has no --ca" cert self-signed client x@example.org --ca ca
run 2 "not an account JID" cert issue client example.org --ca ca
run 2 "give a number of days" cert issue client x@example.org --ca ca --days 0
run 2 "OpenSSL knows no such usage" cert issue client x@example.org --ca ca --eku bogusAuth --out bogus
run 1 "no such file" cert issue client x@example.org --ca nowhere

# ---- what cert show reads (no configuration: not checked, exit 0) ----
run 0 "xmppAddr:    alice@example.org" cert show alice.crt
run 0 "not checked (no configuration" cert show alice.crt
run 0 "CN:          alice" cert show alice.crt
run 0 "carol@example.org" cert show two.crt
run 0 "CN:          dev42" cert show cnonly.crt
run 0 "SRV-ID:      _xmpp-client.example.org" cert show server.crt
run 0 "_xmpp-server.example.org" cert show server.crt
run 0 "DNS:         example.org" cert show server.crt
run 0 "spki:        " cert show server.crt
run 0 "EKU:         serverAuth, clientAuth" cert show server.crt
run 0 "(expired)" cert show expired.crt
run 1 "no such file" cert show nothing.crt

# ---- verdicts of the client trust store ----
run 1 "refused (unknown-issuer)" $C cert show alice.crt
run 1 "trust its CA with: parleyctl trust add" $C cert show alice.crt
run 0 'trusted "CN=Test CA"' $C trust add --store client ca/ca.crt
run 0 "kill -HUP" $C trust add --store client other/ca.crt
run 0 "" $C trust remove --store client other/ca.crt
run 1 "trusted already" $C trust add --store client ca/ca.crt
run 1 "is not a CA certificate" $C trust add --store client alice.crt
run 0 "subject: CN=Test CA" $C trust list --store client
run 0 "accepted" $C cert show alice.crt
run 0 "accepted" cert show alice.crt $C
run 0 "accepted" $C cert show two.crt
run 0 "accepted" $C cert show cnonly.crt
run 0 "accepted" $C cert show otherdomain.crt
run 0 "accepted" $C cert show deep.crt
run 1 "refused (expired): certificate \"CN=old\" expired on" $C cert show expired.crt
run 1 "refused (unknown-issuer): certificate \"CN=mallory\" was issued by \"CN=Other CA\"" $C cert show untrusted.crt
run 1 "refused (self-signed)" $C cert show self.crt
run 1 "refused (wrong-purpose)" $C cert show wrongeku.crt
run 1 "extended key usage lacks clientAuth" $C cert show wrongeku.crt
setting accept_selfsigned true
run 0 "accepted" $C cert show self.crt
setting accept_selfsigned false
setting verify_depth 1
run 1 "refused (chain-too-long)" $C cert show deep.crt
setting verify_depth 4
run 0 'revoked "CN=gone"' cert revoke revoked.crt --ca ca
run 1 "revoked already" cert revoke revoked.crt --ca ca
run 1 "was not issued by the CA" cert revoke deep.crt --ca ca
run 0 "wrote CRL #1" cert crl --ca ca --out inst/crl.pem
run 0 "wrote CRL #2" cert crl --ca ca --out inst/crl.pem --days 7
setting crl_file '"crl.pem"'
run 1 "refused (revoked)" $C cert show revoked.crt
run 0 "accepted" $C cert show alice.crt
run 1 "refused (crl)" $C cert show deep.crt
setting crl_file '""'
setting client_certs '"disabled"'
run 1 "client certificates are disabled" $C cert show alice.crt
setting client_certs '"wanted"'
run 0 "removed" $C trust remove --store client ca/ca.crt
run 1 "nothing in" $C trust remove --store client ca/ca.crt
run 0 "trusted" $C trust add --store client ca/ca.crt
name=$(ls inst/trust/client | sed 's/\.pem$//')
run 0 "removed" $C trust remove --store client "$name"
run 0 "trusted" $C trust add --store s2s ca/ca.crt
[ -n "$(ls inst/trust/s2s)" ] || { echo "FAIL: s2s store empty"; fails=$((fails + 1)); }
run 2 "say which store" $C trust list
run 2 "the stores are client and s2s" $C trust list --store bogus

# ---- accounts and pins ----
run 1 "does not exist" $C user cert add alice@example.org alice.crt
run 0 "without a password" $C user add alice@example.org --no-password
run 0 "pinned" $C user cert add alice@example.org alice.crt
run 1 "pinned to alice@example.org already" $C user cert add alice@example.org alice.crt
run 0 "pinned" $C user cert add alice@example.org two.crt
fp=$("$P" cert show alice.crt | sed -n 's/^  sha256: *//p' | head -1)
run 0 "$fp" $C user cert list alice@example.org
run 0 "1 pin left" $C user cert del alice@example.org "$fp"
run 1 "is not pinned" $C user cert del alice@example.org "$fp"
run 0 "0 pins left" $C user cert del alice@example.org two.crt
run 0 "has no pinned certificates" $C user cert list alice@example.org
run 2 "is not a host" $C user cert list alice@elsewhere.org
run 2 "usage" $C user cert add alice@example.org

# ---- groups, import and export (issue 10) ----
run 0 "created group staff (shared)" $C group create staff --shared --label "Our staff"
run 1 "exists already" $C group create staff
run 2 "is not a group name" $C group create ""
run 0 "added 2 members to staff (2 now)" $C group add staff alice@example.org zed@remote.example
run 1 "nothing changed" $C group add staff alice@example.org bob@example.org
run 2 "not a bare JID" $C group add staff alice@example.org/res
run 1 "there is no group nope" $C group add nope alice@example.org
run 0 "members:      2" $C group show staff
run 0 "staff	2	shared	Our staff" $C group list
run 1 "is not in staff" $C group remove staff bob@example.org
run 0 "removed 1 member" $C group remove staff zed@remote.example
run 0 "deleted group staff" $C group delete staff
run 1 "there is no group staff" $C group delete staff
run 0 "user,JID,PASSWORD" import --help
run 2 "usage" import
cat >good.csv <<'EOF2'
# a comment
user,ann@example.org,"pa,ss"
user,cert@example.org,
pin,cert@example.org,AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89
group,"net, one",Label,shared,members-only
member,"net, one",ann@example.org
member,"net, one",far@remote.example
EOF2
run 0 "imported 2 accounts, 1 pins, 1 groups, 2 memberships" $C import good.csv
run 0 "net, one	2	shared,members-only	Label" $C group list
run 1 "line 2: ann@example.org exists already" $C import good.csv
cat >bad.csv <<'EOF2'
user,new@example.org,pw
user,x@elsewhere.org,pw
group,g,,bogus
member,g,a@b/c
scram,new@example.org,SCRAM-MD5,1,AA==,AA==,AA==
oops
EOF2
run 1 "line 2: elsewhere.org is not a host" $C import bad.csv
run 1 "line 3: a group's flags" $C import bad.csv
run 1 "line 4: 'a@b/c' is not a bare JID" $C import bad.csv
run 1 "line 6: expected user" $C import bad.csv
run 1 "line 5: new@example.org has a password and a SCRAM record" $C import bad.csv
run 1 "5 errors: nothing imported" $C import bad.csv
run 0 "user,ann@example.org," $C export
run 0 "scram,ann@example.org,SCRAM-SHA-256,4096," $C export --with-secrets
run 0 '"members_only": true' $C export --format json
"$P" $C export --with-secrets >round.csv 2>/dev/null
rm -f inst/parley.db*
run 0 "imported" $C import round.csv
run 0 "pin,cert@example.org,abcdef0123456789" $C export
"$P" $C export --format json --with-secrets >round.json 2>/dev/null
rm -f inst/parley.db*
run 0 "imported 3 accounts, 1 pins, 1 groups, 2 memberships" $C import round.json
run 1 "users[0]: alice@example.org exists already" $C import round.json

# ---- independent checks with the openssl command, when there is one ----
if command -v openssl >/dev/null 2>&1; then
	openssl verify -CAfile ca/ca.crt -purpose sslclient alice.crt >/dev/null 2>&1 ||
		{ echo "FAIL: openssl verify alice.crt"; fails=$((fails + 1)); }
	openssl verify -CAfile ca/ca.crt -untrusted sub2/chain.crt deep.crt >/dev/null 2>&1 ||
		{ echo "FAIL: openssl verify deep.crt"; fails=$((fails + 1)); }
	openssl x509 -in alice.crt -noout -text | grep -q "othername: XmppAddr::alice@example.org" ||
		{ echo "FAIL: alice.crt xmppAddr"; fails=$((fails + 1)); }
	openssl x509 -in server.crt -noout -text | grep -q "SRVName::_xmpp-server.example.org" ||
		{ echo "FAIL: server.crt SRV-ID"; fails=$((fails + 1)); }
	openssl x509 -in ca/ca.crt -noout -text | grep -A1 "Basic Constraints: critical" | grep -q "CA:TRUE" ||
		{ echo "FAIL: CA basicConstraints"; fails=$((fails + 1)); }
	openssl crl -in inst/crl.pem -noout -text | grep -q "Serial Number" ||
		{ echo "FAIL: CRL lists nothing"; fails=$((fails + 1)); }
	openssl pkcs12 -in gajim.p12 -passin pass:s3cret -nokeys 2>/dev/null | grep -q "subject=CN = gajim" ||
		{ echo "FAIL: PKCS#12 bundle"; fails=$((fails + 1)); }
fi

echo "$n parleyctl calls, $fails failures"
[ "$fails" -eq 0 ]
