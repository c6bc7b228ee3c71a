// SPDX-License-Identifier: MIT
/* The adapter's JSON reader/writer; see json.h. */
#include "json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct parser {
	const char *s, *end;
	const char *err;
	int depth;
};

static void skip_ws(struct parser *p)
{
	while (p->s < p->end && (*p->s == ' ' || *p->s == '\t' || *p->s == '\n' || *p->s == '\r'))
		p->s++;
}

static int parse_value(struct parser *p, struct json *v);

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void put_utf8(char *out, size_t *o, unsigned cp)
{
	if (cp < 0x80) {
		out[(*o)++] = (char)cp;
	} else if (cp < 0x800) {
		out[(*o)++] = (char)(0xc0 | (cp >> 6));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else if (cp < 0x10000) {
		out[(*o)++] = (char)(0xe0 | (cp >> 12));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	} else {
		out[(*o)++] = (char)(0xf0 | (cp >> 18));
		out[(*o)++] = (char)(0x80 | ((cp >> 12) & 0x3f));
		out[(*o)++] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[(*o)++] = (char)(0x80 | (cp & 0x3f));
	}
}

static char *parse_string_raw(struct parser *p, size_t *len)
{
	const char *start = ++p->s; /* after the quote */
	size_t cap = 0, o = 0;
	char *out;

	while (p->s < p->end && *p->s != '"') {
		if (*p->s == '\\')
			p->s++;
		p->s++;
	}
	if (p->s >= p->end) {
		p->err = "unterminated string";
		return NULL;
	}
	cap = (size_t)(p->s - start) + 1;
	out = malloc(cap + 4);
	for (const char *c = start; c < p->s; c++) {
		if (*c != '\\') {
			out[o++] = *c;
			continue;
		}
		c++;
		switch (*c) {
		case 'n': out[o++] = '\n'; break;
		case 't': out[o++] = '\t'; break;
		case 'r': out[o++] = '\r'; break;
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'u': {
			unsigned cp = 0;
			for (int i = 1; i <= 4; i++) {
				int h = c + i < p->s ? hexval(c[i]) : -1;
				if (h < 0) {
					free(out);
					p->err = "bad \\u escape";
					return NULL;
				}
				cp = cp * 16 + (unsigned)h;
			}
			c += 4;
			/* Surrogate pairs are not needed on this wire; keep BMP code points. */
			put_utf8(out, &o, cp);
			break;
		}
		default: out[o++] = *c; break; /* \" \\ \/ */
		}
	}
	out[o] = 0;
	p->s++; /* closing quote */
	*len = o;
	return out;
}

static int parse_array(struct parser *p, struct json *v)
{
	size_t cap = 0;

	v->type = JSON_ARRAY;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == ']') {
		p->s++;
		return 0;
	}
	for (;;) {
		if (v->n == cap) {
			cap = cap ? cap * 2 : 4;
			v->items = realloc(v->items, cap * sizeof(*v->items));
		}
		memset(&v->items[v->n], 0, sizeof(*v->items));
		v->n++;
		if (parse_value(p, &v->items[v->n - 1]))
			return -1;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == ']') {
			p->s++;
			return 0;
		}
		p->err = "expected , or ] in array";
		return -1;
	}
}

static int parse_object(struct parser *p, struct json *v)
{
	size_t cap = 0, klen;

	v->type = JSON_OBJECT;
	p->s++;
	skip_ws(p);
	if (p->s < p->end && *p->s == '}') {
		p->s++;
		return 0;
	}
	for (;;) {
		skip_ws(p);
		if (p->s >= p->end || *p->s != '"') {
			p->err = "expected a key string in object";
			return -1;
		}
		if (v->n == cap) {
			cap = cap ? cap * 2 : 8;
			v->items = realloc(v->items, cap * sizeof(*v->items));
			v->keys = realloc(v->keys, cap * sizeof(*v->keys));
		}
		memset(&v->items[v->n], 0, sizeof(*v->items));
		v->keys[v->n] = parse_string_raw(p, &klen);
		if (!v->keys[v->n])
			return -1;
		v->n++;
		skip_ws(p);
		if (p->s >= p->end || *p->s != ':') {
			p->err = "expected : in object";
			return -1;
		}
		p->s++;
		if (parse_value(p, &v->items[v->n - 1]))
			return -1;
		skip_ws(p);
		if (p->s < p->end && *p->s == ',') {
			p->s++;
			continue;
		}
		if (p->s < p->end && *p->s == '}') {
			p->s++;
			return 0;
		}
		p->err = "expected , or } in object";
		return -1;
	}
}

static int parse_value(struct parser *p, struct json *v)
{
	if (++p->depth > 64) {
		p->err = "nesting too deep";
		return -1;
	}
	skip_ws(p);
	if (p->s >= p->end) {
		p->err = "unexpected end of input";
		return -1;
	}
	switch (*p->s) {
	case '{':
		if (parse_object(p, v))
			return -1;
		break;
	case '[':
		if (parse_array(p, v))
			return -1;
		break;
	case '"':
		v->type = JSON_STRING;
		v->text = parse_string_raw(p, &v->text_len);
		if (!v->text)
			return -1;
		break;
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };
		int i = *p->s == 't' ? 0 : *p->s == 'f' ? 1 : 2;
		size_t l = strlen(words[i]);

		if ((size_t)(p->end - p->s) < l || memcmp(p->s, words[i], l)) {
			p->err = "bad literal";
			return -1;
		}
		p->s += l;
		v->type = i == 2 ? JSON_NULL : JSON_BOOL;
		v->boolean = i == 0;
		break;
	}
	default: {
		const char *start = p->s;

		while (p->s < p->end && strchr("+-0123456789.eE", *p->s))
			p->s++;
		if (p->s == start) {
			p->err = "unexpected character";
			return -1;
		}
		v->type = JSON_NUMBER;
		v->text_len = (size_t)(p->s - start);
		v->text = malloc(v->text_len + 1);
		memcpy(v->text, start, v->text_len);
		v->text[v->text_len] = 0;
	}
	}
	p->depth--;
	return 0;
}

static void json_free_inner(struct json *v)
{
	for (size_t i = 0; i < v->n; i++) {
		json_free_inner(&v->items[i]);
		if (v->keys)
			free(v->keys[i]);
	}
	free(v->items);
	free(v->keys);
	free(v->text);
}

void json_free(struct json *v)
{
	if (!v)
		return;
	json_free_inner(v);
	free(v);
}

struct json *json_parse(const char *text, size_t len, const char **err)
{
	struct parser p = { .s = text, .end = text + len };
	struct json *v = calloc(1, sizeof(*v));

	if (parse_value(&p, v) == 0) {
		skip_ws(&p);
		if (p.s == p.end)
			return v;
		p.err = "trailing characters after the JSON value";
	}
	*err = p.err;
	json_free(v);
	return NULL;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	if (!obj || obj->type != JSON_OBJECT)
		return NULL;
	for (size_t i = 0; i < obj->n; i++)
		if (!strcmp(obj->keys[i], key))
			return &obj->items[i];
	return NULL;
}

void sb_reserve(struct sbuf *b, size_t more)
{
	if (b->len + more + 1 <= b->cap)
		return;
	while (b->len + more + 1 > b->cap)
		b->cap = b->cap ? b->cap * 2 : 4096;
	b->p = realloc(b->p, b->cap);
}

void sb_putn(struct sbuf *b, const char *s, size_t n)
{
	sb_reserve(b, n);
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = 0;
}

void sb_puts(struct sbuf *b, const char *s)
{
	sb_putn(b, s, strlen(s));
}

void sb_printf(struct sbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	sb_reserve(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void sb_str(struct sbuf *b, const char *s)
{
	sb_putn(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };
			sb_putn(b, e, 2);
		} else if (c < 0x20) {
			sb_printf(b, "\\u%04x", c);
		} else {
			sb_putn(b, (const char *)&c, 1);
		}
	}
	sb_putn(b, "\"", 1);
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void sb_b64obj(struct sbuf *b, const void *data, size_t n)
{
	const unsigned char *p = data;
	size_t i;
	char *o;

	sb_puts(b, "{\"b64\":\"");
	sb_reserve(b, (n + 2) / 3 * 4);
	o = b->p + b->len;
	for (i = 0; i + 2 < n; i += 3) {
		*o++ = b64chars[p[i] >> 2];
		*o++ = b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*o++ = b64chars[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*o++ = b64chars[p[i + 2] & 63];
	}
	if (i < n) {
		*o++ = b64chars[p[i] >> 2];
		if (i + 1 < n) {
			*o++ = b64chars[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*o++ = b64chars[(p[i + 1] & 15) << 2];
		} else {
			*o++ = b64chars[(p[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	b->len = (size_t)(o - b->p);
	b->p[b->len] = 0;
	sb_puts(b, "\"}");
}

void sb_u64str(struct sbuf *b, uint64_t v)
{
	sb_printf(b, "\"%llu\"", (unsigned long long)v);
}

unsigned char *b64_decode(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out = malloc(len / 4 * 3 + 4);
	unsigned acc = 0;
	int bits = 0;
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		const char *c;

		if (s[i] == '=')
			break;
		c = strchr(b64chars, s[i]);
		if (!c || !s[i]) {
			free(out);
			return NULL;
		}
		acc = (acc << 6) | (unsigned)(c - b64chars);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	*out_len = o;
	return out;
}
