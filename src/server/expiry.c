/*
 * expiry: the days left on the certificates we serve and trust, turned
 * into lines an operator can act on.  Not a scheduler: parleyd decides when
 * to look (start-up, reload, a daily timer); not a loader: tls/ reports
 * what it holds.
 */
#include "server/expiry.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "core/alloc.h"
#include "core/buf.h"
#include "core/log.h"
#include "tls/tls.h"

enum { DAY = 86400 };

enum expiry_level expiry_judge(long long not_after, long long now, long long *days)
{
	long long d;
	enum expiry_level level;
	if (not_after <= now) {
		d = (now - not_after) / DAY;
		level = EXPIRY_EXPIRED;
	} else {
		d = (not_after - now + DAY - 1) / DAY;
		level = d <= EXPIRY_URGENT_DAYS ? EXPIRY_URGENT
			: d <= EXPIRY_SOON_DAYS ? EXPIRY_SOON
						: EXPIRY_FINE;
	}
	if (days)
		*days = d;
	return level;
}

static const char *date_str(long long t, char *out, size_t n)
{
	time_t tt = (time_t)t;
	struct tm tm;
	if (!gmtime_r(&tt, &tm) || strftime(out, n, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(out, n, "@%lld", t);
	return out;
}

size_t expiry_lines(const struct expiry_cert *certs, size_t n, long long now,
		    struct expiry_line **out)
{
	*out = NULL;
	size_t count = 0;
	for (size_t i = 0; i < n; i++) {
		long long days;
		enum expiry_level level = expiry_judge(certs[i].not_after, now, &days);
		if (level == EXPIRY_FINE)
			continue;
		char when[48];
		date_str(certs[i].not_after, when, sizeof(when));
		struct buf b = BUF_INIT;
		if (level == EXPIRY_EXPIRED)
			buf_printf(&b, "%s expired on %s (%lld day%s ago); peers refuse it: %s",
				   certs[i].label, when, days, days == 1 ? "" : "s", certs[i].action);
		else
			buf_printf(&b, "%s expires on %s, in %lld day%s (%d-day warning); %s",
				   certs[i].label, when, days, days == 1 ? "" : "s",
				   level == EXPIRY_URGENT ? EXPIRY_URGENT_DAYS : EXPIRY_SOON_DAYS,
				   certs[i].action);
		*out = xrealloc(*out, (count + 1) * sizeof(**out));
		(*out)[count++] = (struct expiry_line){.level = level, .days = days, .text = buf_steal(&b)};
	}
	return count;
}

void expiry_lines_free(struct expiry_line *lines, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(lines[i].text);
	free(lines);
}

/* ---- Gathering ---- */

static char *host_label(const struct tls_cert_date *d)
{
	struct buf b = BUF_INIT;
	if (d->chain)
		buf_printf(&b, "host %s: %s \"%s\" in the chain of %s", d->domain,
			   d->ca ? "intermediate CA" : "certificate", d->subject, d->file);
	else
		buf_printf(&b, "host %s: certificate %s (\"%s\")", d->domain, d->file, d->subject);
	return buf_steal(&b);
}

static char *host_action(const struct tls_cert_date *d)
{
	struct buf b = BUF_INIT;
	if (d->chain)
		buf_printf(&b, "put the issuing CA's current chain after the certificate in %s, "
			       "then send parleyd SIGHUP",
			   d->file);
	else
		buf_printf(&b, "renew it (from your CA, or parleyctl cert issue server %s --ca DIR "
			       "--out PREFIX), replace %s and its key, then send parleyd SIGHUP",
			   d->domain, d->file);
	return buf_steal(&b);
}

static char *ca_label(const struct tls_cert_date *d, const char *setting)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s %s: trusted CA \"%s\"", setting, d->file, d->subject);
	return buf_steal(&b);
}

static char *ca_action(const char *store)
{
	struct buf b = BUF_INIT;
	buf_printf(&b, "add its successor (parleyctl trust add --store %s FILE), remove it "
		       "(parleyctl trust remove --store %s NAME), then send parleyd SIGHUP",
		   store, store);
	return buf_steal(&b);
}

static void push(struct expiry_cert **v, size_t *n, char *label, char *action,
		 long long not_after)
{
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = (struct expiry_cert){.label = label, .action = action, .not_after = not_after};
}

static void gather_store(struct tls_client_auth *ca, const char *path, const char *setting,
			 const char *store, struct expiry_cert **v, size_t *n)
{
	if (!ca)
		return;
	struct tls_cert_dates d = {0};
	tls_client_auth_cert_dates(ca, path, &d);
	for (size_t i = 0; i < d.n; i++)
		push(v, n, ca_label(&d.v[i], setting), ca_action(store), d.v[i].not_after);
	tls_cert_dates_clear(&d);
}

size_t expiry_gather(const struct expiry_sources *src, struct expiry_cert **out)
{
	struct expiry_cert *v = NULL;
	size_t n = 0;
	if (src->hosts) {
		struct tls_cert_dates d = {0};
		tls_server_cert_dates(src->hosts, &d);
		for (size_t i = 0; i < d.n; i++)
			push(&v, &n, host_label(&d.v[i]), host_action(&d.v[i]), d.v[i].not_after);
		tls_cert_dates_clear(&d);
	}
	gather_store(src->client_ca, src->client_ca_path, "c2s.client_ca", "client", &v, &n);
	gather_store(src->s2s_ca, src->s2s_ca_path, "s2s.ca", "s2s", &v, &n);
	*out = v;
	return n;
}

void expiry_certs_free(struct expiry_cert *certs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)certs[i].label);
		free((char *)certs[i].action);
	}
	free(certs);
}

enum expiry_level expiry_log(const struct expiry_sources *src, long long now)
{
	struct expiry_cert *certs;
	size_t n = expiry_gather(src, &certs);
	struct expiry_line *lines;
	size_t nl = expiry_lines(certs, n, now, &lines);
	enum expiry_level worst = EXPIRY_FINE;
	for (size_t i = 0; i < nl; i++) {
		if (lines[i].level == EXPIRY_EXPIRED)
			log_error("expiry", "%s", lines[i].text);
		else
			log_warn("expiry", "%s", lines[i].text);
		if (lines[i].level > worst)
			worst = lines[i].level;
	}
	expiry_lines_free(lines, nl);
	expiry_certs_free(certs, n);
	return worst;
}
