/* SPDX-License-Identifier: MIT */
/*
 * A tiny JSON reader/writer for the kernel adapter (one request per line, so a
 * DOM per line is fine). Numbers keep their source text so u64 values survive
 * (the wire carries u64 as decimal strings anyway). No dependencies, no
 * network fetches: written for this project.
 */
#ifndef IOMMUFD_SPEC_JSON_H
#define IOMMUFD_SPEC_JSON_H

#include <stddef.h>
#include <stdint.h>

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

struct json {
	enum json_type type;
	int boolean;
	char *text;          /* string contents (unescaped, NUL-terminated) or number text */
	size_t text_len;
	size_t n;            /* array/object element count */
	struct json *items;  /* array/object values */
	char **keys;         /* object keys */
};

/* Parses one JSON document; returns NULL and fills *err on failure. */
struct json *json_parse(const char *text, size_t len, const char **err);
void json_free(struct json *v);
const struct json *json_get(const struct json *obj, const char *key);

/* Growable output buffer. */
struct sbuf {
	char *p;
	size_t len, cap;
};
void sb_reserve(struct sbuf *b, size_t more);
void sb_putn(struct sbuf *b, const char *s, size_t n);
void sb_puts(struct sbuf *b, const char *s);
void sb_printf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sb_str(struct sbuf *b, const char *s);      /* quoted, escaped */
void sb_b64obj(struct sbuf *b, const void *p, size_t n); /* {"b64":"..."} */
void sb_u64str(struct sbuf *b, uint64_t v);      /* "123" (u64 on the wire) */

/* base64 decode; returns malloc'ed bytes or NULL on bad input. */
unsigned char *b64_decode(const char *s, size_t len, size_t *out_len);

#endif
