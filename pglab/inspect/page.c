/*
 * pglab inspect: decode a page with the build's own headers, compiled per build
 * by cffi (layouts.py).  Every offset, size and flag value comes from the headers
 * included below; what a type's bytes mean is the type's on-disk format.
 *
 * Heap pages and tuple values are written as JSON text straight from here: the
 * same text feeds `inspect --format json` and, parsed, the text and pictures.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include "pg_config.h"
#include "postgres.h"
#include "storage/bufpage.h"
#include "storage/checksum.h"
#include "storage/checksum_impl.h"
#include "access/htup_details.h"
#include "access/itup.h"
#include "access/nbtree.h"
#include "access/visibilitymap.h"
#include "access/ginblock.h"
#include "access/brin_page.h"
#include "access/brin_tuple.h"
#include "access/hash.h"
#include "storage/fsm_internals.h"
#include "storage/buf_internals.h"
#include "storage/pg_shmem.h"
#include "access/detoast.h"
#if PG_VERSION_NUM >= 160000
#include "varatt.h"
#endif
#if PG_VERSION_NUM < 140000          /* the names 14 gave these */
#define VARDATA_COMPRESSED_GET_EXTSIZE(p) VARRAWSIZE_4B_C(p)
#define VARATT_EXTERNAL_GET_EXTSIZE(e) ((e).va_extsize)
#endif
/* port.h maps these to the server's pg_ versions, which a Python module cannot link */
#undef snprintf
#undef vsnprintf
#undef sprintf
#undef printf

/* An Assert in the headers' inline functions lands here instead of the server's
 * ExceptionalCondition: the call returns an error and Python raises. */
static jmp_buf pglab_jmp;
char pglab_error[512];
#if PG_VERSION_NUM >= 160000
void ExceptionalCondition(const char *cond, const char *file, int line)
#else
void ExceptionalCondition(const char *cond, const char *type, const char *file, int line)
#endif
{
    snprintf(pglab_error, sizeof(pglab_error), "%s (%s:%d)", cond, file, line);
    longjmp(pglab_jmp, 1);
}
#define GUARD() do { pglab_error[0] = 0; if (setjmp(pglab_jmp)) return -1; } while (0)

#define MAPSIZE (BLCKSZ - MAXALIGN(SizeOfPageHeaderData))
#define HEAPBLOCKS_PER_BYTE (BITS_PER_BYTE / BITS_PER_HEAPBLOCK)
#define HEAPBLOCKS_PER_PAGE (MAPSIZE * HEAPBLOCKS_PER_BYTE)

/* ---- the structs Python reads (layouts.cdef() hands this section to cffi) -------------- */

typedef struct {
    uint32_t lsn_hi, lsn_lo;
    uint16_t checksum, flags, lower, upper, special, pagesize, version;
    uint32_t prune_xid;
    uint16_t max_offset;
    uint16_t computed_checksum;
    int is_new;
} pglab_header;

typedef struct {
    uint16_t lp_off, lp_flags, lp_len;
    int has_tuple;
    uint32_t tid_block; uint16_t tid_offset;
    uint16_t size;
    int nulls, vars;
    uint16_t data_off, data_len;
    int is_pivot, is_posting;
    int has_htid; uint32_t htid_block; uint16_t htid_offset;
    uint16_t nposting, posting_off;
} pglab_bt_item;

typedef struct {
    uint32_t prev, next, level, xact;
    uint16_t flags, cycleid;
    int special_ok;
} pglab_bt_opaque;

typedef struct {
    uint32_t magic, version, root, level, fastroot, fastlevel;
    uint32_t oldest_xact;
    uint64_t last_cleanup_num_delpages;
    double last_cleanup_num_tuples;
    int allequalimage;
} pglab_bt_meta;

typedef struct {
    int kind;
    uint32_t total;
    uint32_t data_off, data_len;
    uint32_t rawsize, extsize, valueid, toastrelid;
    int method;
} pglab_varlena;

/* a transaction's fate, as pglab_heap_summarize is told it */
#define XS_UNKNOWN 0
#define XS_IN_PROGRESS 1
#define XS_COMMITTED 2
#define XS_ABORTED 3

/* the statuses pglab_heap_summarize knows, and where it lists those it needed and lacked */
typedef struct {
    const uint32_t *xids;        /* sorted */
    const uint8_t *status;       /* XS_* of each */
    int nxids;
    const uint32_t *multis;      /* sorted */
    const uint32_t *updaters;    /* each multixact's updating member (0: it only locks) */
    int nmultis;
    uint32_t *need_xids, *need_multis;   /* what a tuple needed and the tables lacked */
    int need_cap, nneed_xids, nneed_multis;
} pglab_fates;

typedef struct {
    uint64_t tuple_count, tuple_len, dead_tuple_count, dead_tuple_len, free_space;
    uint64_t live_space;           /* what the live tuples take on a page: MAXALIGNed, with their line pointers */
    uint64_t lp_unused, lp_normal, lp_redirect, lp_dead;
    uint64_t inserting, deleting, undecided, new_pages;
} pglab_heap_summary;

/* one shared buffer holding a page of the relation asked about (pg_buffercache's columns) */
typedef struct {
    int32_t buffer;               /* pg_buffercache's bufferid: buf_id + 1 */
    int32_t fork;
    uint32_t block;
    int dirty, usage, pins;
    uint32_t state;
} pglab_buffer;

/* A relation's attributes, as values() needs them (built once per relation in Python). */
typedef struct {
    int natts;
    const int16_t *attlen;
    const uint8_t *align;          /* bytes: 1, 2, 4 or 8 */
    const uint8_t *kind;           /* how to print the value: see layouts.VALUE_KINDS */
    const char *const *prefix;     /* '{"name": ..., "type": ...' (and ', "dropped": true') */
    const char *const *missing;    /* a missing attribute's value as JSON, or NULL */
} pglab_attrs;

/* ---- a JSON text buffer ---------------------------------------------------------------- */

typedef struct { char *buf; size_t len, cap; int overflow; } jbuf;

static void jput(jbuf *b, const char *s, size_t n)
{
    if (b->overflow || b->len + n > b->cap) { b->overflow = 1; return; }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
}
#define JLIT(b, s) jput((b), (s), sizeof(s) - 1)
static void jstr(jbuf *b, const char *s) { jput(b, s, strlen(s)); }

static void jfmt(jbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    if (b->overflow) return;
    va_start(ap, fmt);
    n = vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t) n >= b->cap - b->len) b->overflow = 1; else b->len += n;
}

static void jint(jbuf *b, int64_t v)
{
    char tmp[24], *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? -(uint64_t) v : (uint64_t) v;
    do { *--p = '0' + u % 10; u /= 10; } while (u);
    if (v < 0) *--p = '-';
    jput(b, p, tmp + sizeof(tmp) - p);
}

static void jkey_int(jbuf *b, const char *key, int64_t v) { jstr(b, key); jint(b, v); }

/* V as exactly WIDTH digits, zero-padded */
static void jdigits(jbuf *b, uint64_t v, int width)
{
    char tmp[20];
    int i;
    for (i = width - 1; i >= 0; i--) { tmp[i] = '0' + v % 10; v /= 10; }
    jput(b, tmp, width);
}
static void jbool(jbuf *b, int v) { if (v) JLIT(b, "true"); else JLIT(b, "false"); }

/* a JSON string of N bytes (UTF-8 passes through; control characters are escaped) */
static void jesc(jbuf *b, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i, start = 0;
    JLIT(b, "\"");
    for (i = 0; i < n; i++)
    {
        unsigned char c = s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        jput(b, (const char *) s + start, i - start);
        start = i + 1;
        if (c == '"') JLIT(b, "\\\"");
        else if (c == '\\') JLIT(b, "\\\\");
        else if (c == '\n') JLIT(b, "\\n");
        else if (c == '\t') JLIT(b, "\\t");
        else { char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]}; jput(b, u, 6); }
    }
    jput(b, (const char *) s + start, n - start);
    JLIT(b, "\"");
}

static void jhex(jbuf *b, const unsigned char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t i;
    JLIT(b, "\"\\\\x");
    for (i = 0; i < n; i++) { char h[2] = {hex[s[i] >> 4], hex[s[i] & 15]}; jput(b, h, 2); }
    JLIT(b, "\"");
}

static int jfinish(jbuf *b)
{
    return b->overflow ? -3 : (int) b->len;
}

/* ---- values: what the bytes of common types mean ---------------------------------------- */

enum { K_HEX = 0, K_INT2, K_INT4, K_INT8, K_UINT4, K_BOOL, K_FLOAT4, K_FLOAT8, K_CHAR, K_NAME, K_UUID, K_DATE,
       K_TIMESTAMP, K_TIMESTAMPTZ, K_TEXT, K_NUMERIC, K_TID, K_DROPPED = 255 };

#define POSTGRES_EPOCH_DAYS_FROM_1970 10957

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned) (z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t) yoe + era * 400 + (*m <= 2);
}

static void jdate_body(jbuf *b, int64_t days)
{
    int64_t y;
    unsigned m, d;
    civil_from_days(days + POSTGRES_EPOCH_DAYS_FROM_1970, &y, &m, &d);
    if (y > 0) jfmt(b, "%04lld-%02u-%02u", (long long) y, m, d);
    else jfmt(b, "%04lld-%02u-%02u BC", (long long) (1 - y), m, d);
}

static void jtimestamp(jbuf *b, int64_t us, int tz)
{
    int64_t days, rem;
    if (us == INT64_MAX) { JLIT(b, "\"infinity\""); return; }
    if (us == INT64_MIN) { JLIT(b, "\"-infinity\""); return; }
    days = us / 86400000000LL;
    rem = us % 86400000000LL;
    if (rem < 0) { rem += 86400000000LL; days--; }
    JLIT(b, "\"");
    {
        int64_t y; unsigned m, d;
        civil_from_days(days + POSTGRES_EPOCH_DAYS_FROM_1970, &y, &m, &d);
        {
            int64_t year = y > 0 ? y : 1 - y;
            if (year > 9999) jint(b, year); else jdigits(b, year, 4);
        }
        JLIT(b, "-"); jdigits(b, m, 2); JLIT(b, "-"); jdigits(b, d, 2); JLIT(b, " ");
        jdigits(b, rem / 3600000000LL, 2); JLIT(b, ":"); jdigits(b, rem / 60000000LL % 60, 2); JLIT(b, ":");
        jdigits(b, rem / 1000000 % 60, 2);
        if (rem % 1000000)
        {
            int frac = rem % 1000000, n = 6;
            while (frac % 10 == 0) { frac /= 10; n--; }
            JLIT(b, ".");
            jdigits(b, frac, n);
        }
        if (tz) JLIT(b, "+00");
        if (y <= 0) JLIT(b, " BC");
    }
    JLIT(b, "\"");
}

/* numeric.c's NumericData (short or long header) as its text output */
static void jnumeric(jbuf *b, const unsigned char *p, uint32_t n)
{
    uint16_t header, sign_dscale;
    int negative, dscale, weight, ndigits, i, written;
    const unsigned char *digits;
    if (n < 2) { JLIT(b, "null"); return; }
    memcpy(&header, p, 2);
    if ((header & 0xC000) == 0xC000)
    {
        if ((header & 0xF000) == 0xD000) JLIT(b, "\"Infinity\"");
        else if ((header & 0xF000) == 0xF000) JLIT(b, "\"-Infinity\"");
        else JLIT(b, "\"NaN\"");
        return;
    }
    if ((header & 0xC000) == 0x8000)          /* short format */
    {
        negative = (header & 0x2000) != 0;
        dscale = (header & 0x1F80) >> 7;
        weight = header & 0x003F;
        if (header & 0x0040) weight -= 0x40;
        digits = p + 2;
        ndigits = (n - 2) / 2;
    }
    else
    {
        int16_t w;
        if (n < 4) { JLIT(b, "null"); return; }
        sign_dscale = header;
        negative = (sign_dscale & 0xC000) == 0x4000;
        dscale = sign_dscale & 0x3FFF;
        memcpy(&w, p + 2, 2);
        weight = w;
        digits = p + 4;
        ndigits = (n - 4) / 2;
    }
#define DIGIT(k) ((k) >= 0 && (k) < ndigits ? (int) (digits[2 * (k)] | (digits[2 * (k) + 1] << 8)) : 0)
    JLIT(b, "\"");
    if (negative && ndigits > 0) JLIT(b, "-");
    if (weight < 0)
        JLIT(b, "0");
    else
        for (i = 0; i <= weight; i++)
            if (i == 0) jint(b, DIGIT(0)); else jdigits(b, DIGIT(i), 4);
    if (dscale > 0)
    {
        JLIT(b, ".");
        for (i = weight + 1, written = 0; written < dscale; i++, written += 4)
        {
            int take = dscale - written < 4 ? dscale - written : 4, d = DIGIT(i), k;
            for (k = 4; k > take; k--) d /= 10;
            jdigits(b, d, take);
        }
    }
    JLIT(b, "\"");
#undef DIGIT
}

static void jfixed(jbuf *b, int kind, const unsigned char *p, int len)
{
    switch (kind)
    {
        case K_INT2: { int16_t v; memcpy(&v, p, 2); jint(b, v); return; }
        case K_INT4: { int32_t v; memcpy(&v, p, 4); jint(b, v); return; }
        case K_INT8: { int64_t v; memcpy(&v, p, 8); jint(b, v); return; }
        case K_UINT4: { uint32_t v; memcpy(&v, p, 4); jint(b, v); return; }
        case K_BOOL: jbool(b, p[0] != 0); return;
        case K_FLOAT4:
        case K_FLOAT8:
        {
            double v;
            if (kind == K_FLOAT4) { float f; memcpy(&f, p, 4); v = f; } else memcpy(&v, p, 8);
            if (isnan(v)) JLIT(b, "\"NaN\"");
            else if (isinf(v)) jstr(b, v > 0 ? "\"Infinity\"" : "\"-Infinity\"");
            else jfmt(b, kind == K_FLOAT4 ? "%.9g" : "%.17g", v);
            return;
        }
        case K_CHAR: jesc(b, p, p[0] ? 1 : 0); return;
        case K_NAME: jesc(b, p, strnlen((const char *) p, len)); return;
        case K_UUID:
            jfmt(b, "\"%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x\"", p[0], p[1], p[2],
                 p[3], p[4], p[5], p[6], p[7], p[8], p[9], p[10], p[11], p[12], p[13], p[14], p[15]);
            return;
        case K_DATE:
        {
            int32_t v; memcpy(&v, p, 4);
            if (v == INT32_MAX) JLIT(b, "\"infinity\"");
            else if (v == INT32_MIN) JLIT(b, "\"-infinity\"");
            else { JLIT(b, "\""); jdate_body(b, v); JLIT(b, "\""); }
            return;
        }
        case K_TIMESTAMP:
        case K_TIMESTAMPTZ: { int64_t v; memcpy(&v, p, 8); jtimestamp(b, v, kind == K_TIMESTAMPTZ); return; }
        case K_TID:
        {
            ItemPointerData t; memcpy(&t, p, sizeof(t));
            jfmt(b, "\"(%u,%u)\"", ItemPointerGetBlockNumberNoCheck(&t), ItemPointerGetOffsetNumberNoCheck(&t));
            return;
        }
        default: jhex(b, p, len);
    }
}

/* what a varlena datum is and where its bytes are, by postgres.h/varatt.h's macros */
int pglab_varlena_read(const char *p, uint32_t avail, pglab_varlena *out)
{
    GUARD();
    memset(out, 0, sizeof(*out));
    out->method = -1;
    if (avail < 1)
        return -2;
    if (VARATT_IS_EXTERNAL(p))
    {
        if (avail < VARHDRSZ_EXTERNAL)
            return -2;
        out->total = VARSIZE_EXTERNAL(p);
        if (out->total > avail)
            return -2;
        if (VARATT_IS_EXTERNAL_ONDISK(p))
        {
            struct varatt_external ext;
            VARATT_EXTERNAL_GET_POINTER(ext, p);
            out->kind = 3;
            out->rawsize = ext.va_rawsize;
            out->extsize = VARATT_EXTERNAL_GET_EXTSIZE(ext);
            out->valueid = ext.va_valueid;
            out->toastrelid = ext.va_toastrelid;
#if PG_VERSION_NUM >= 140000
            out->method = VARATT_EXTERNAL_IS_COMPRESSED(ext) ? (int) VARATT_EXTERNAL_GET_COMPRESS_METHOD(ext) : -1;
#endif
        }
        else
            out->kind = 4;
        return 0;
    }
    if (VARATT_IS_SHORT(p))
    {
        out->kind = 1;
        out->total = VARSIZE_SHORT(p);
        out->data_off = VARHDRSZ_SHORT;
    }
    else
    {
        if (avail < VARHDRSZ)
            return -2;
        out->total = VARSIZE_4B(p);
        out->data_off = VARHDRSZ;
        if (VARATT_IS_COMPRESSED(p))
        {
            out->kind = 2;
            out->rawsize = VARDATA_COMPRESSED_GET_EXTSIZE(p);
#if PG_VERSION_NUM >= 140000
            out->method = VARDATA_COMPRESSED_GET_COMPRESS_METHOD(p);
#endif
        }
    }
    if (out->total > avail || out->total < out->data_off)
        return -2;
    out->data_len = out->total - out->data_off;
    return 0;
}

static const char *const varlena_kinds[] = {"inline", "short", "compressed", "toast", "external"};
static const char *const compressions[] = {"pglz", "lz4"};

static void jmethod(jbuf *b, int method)
{
    if (method >= 0 && method < 2) { JLIT(b, "\""); jstr(b, compressions[method]); JLIT(b, "\""); }
    else JLIT(b, "null");
}

/* Attributes FROM..TO-1 of one tuple's data area, the way heap_deform_tuple walks it, from
 * *OFFP (left after the last one); the objects comma-separated, without brackets.  -1 when the
 * walk ran off the tuple (the error is in the output). */
static int jvalues_range(jbuf *b, const unsigned char *tp, uint32_t len, int natts, const bits8 *bits,
                         const pglab_attrs *a, int from, int to, uint32_t *offp)
{
    uint32_t off = *offp;
    int i;
    for (i = from; i < to; i++)
    {
        int attlen = a->attlen[i], kind = a->kind[i];
        uint32_t size;
        if (i > from) JLIT(b, ", ");
        jstr(b, a->prefix[i]);
        if (i >= natts)          /* added after this tuple was written: reads as the default */
        {
            JLIT(b, ", \"missing\": true, \"value\": ");
            jstr(b, a->missing[i] ? a->missing[i] : "null");
            JLIT(b, "}");
            continue;
        }
        if (bits && !(bits[i >> 3] & (1 << (i & 7))))
        {
            JLIT(b, ", \"null\": true, \"value\": null}");
            continue;
        }
        if (attlen != -1 || off >= len || tp[off] == 0)      /* a short varlena is not aligned */
            off = TYPEALIGN(a->align[i], off);
        if (off >= len)
        {
            JLIT(b, ", \"truncated\": true}");      /* a pivot tuple's suffix-truncated key */
            continue;
        }
        jkey_int(b, ", \"offset\": ", off);
        if (attlen > 0)
        {
            if (off + attlen > len) { JLIT(b, ", \"error\": \"past the end of the tuple\"}"); *offp = off; return -1; }
            size = attlen;
            if (kind != K_DROPPED) { JLIT(b, ", \"value\": "); jfixed(b, kind, tp + off, attlen); }
        }
        else if (attlen == -1)
        {
            pglab_varlena vl;
            if (pglab_varlena_read((const char *) tp + off, len - off, &vl) != 0)
            {
                JLIT(b, ", \"error\": \"varlena header past the end of the tuple\"}");
                *offp = off;
                return -1;
            }
            size = vl.total;
            JLIT(b, ", \"varlena\": \"");
            jstr(b, varlena_kinds[vl.kind]);
            JLIT(b, "\"");
            if (vl.kind == 3)
            {
                jfmt(b, ", \"toast\": {\"va_rawsize\": %u, \"va_extsize\": %u, \"va_valueid\": %u, "
                     "\"va_toastrelid\": %u, \"compression\": ", vl.rawsize, vl.extsize, vl.valueid, vl.toastrelid);
                jmethod(b, vl.method);
                JLIT(b, "}");
            }
            else if (vl.kind == 2)
            {
                jkey_int(b, ", \"compressed\": {\"rawsize\": ", vl.rawsize);
                JLIT(b, ", \"compression\": ");
                jmethod(b, vl.method < 0 ? 0 : vl.method);      /* before 14, pglz is the only one */
                JLIT(b, "}");
            }
            else if (vl.kind < 2 && kind != K_DROPPED)
            {
                const unsigned char *data = tp + off + vl.data_off;
                JLIT(b, ", \"value\": ");
                if (kind == K_TEXT) jesc(b, data, vl.data_len);
                else if (kind == K_NUMERIC) jnumeric(b, data, vl.data_len);
                else jhex(b, data, vl.data_len);
            }
        }
        else                     /* cstring */
        {
            size = strnlen((const char *) tp + off, len - off) + 1;
            if (kind != K_DROPPED) { JLIT(b, ", \"value\": "); jesc(b, tp + off, size - 1); }
        }
        jkey_int(b, ", \"size\": ", size);
        JLIT(b, "}");
        off += size;
    }
    *offp = off;
    return 0;
}

/* the attributes of one tuple's data area, the way heap_deform_tuple walks it */
static void jvalues(jbuf *b, const unsigned char *tp, uint32_t len, int natts, const bits8 *bits,
                    const pglab_attrs *a)
{
    uint32_t off = 0;
    JLIT(b, "[");
    jvalues_range(b, tp, len, natts, bits, a, 0, a->natts, &off);
    JLIT(b, "]");
}

int pglab_values_json(const char *data, uint32_t len, int natts, const char *bits, const pglab_attrs *attrs,
                      char *out, uint32_t cap)
{
    jbuf b = {out, 0, cap, 0};
    GUARD();
    jvalues(&b, (const unsigned char *) data, len, natts, (const bits8 *) bits, attrs);
    return jfinish(&b);
}

/* ---- the page header ------------------------------------------------------------------- */

int pglab_header_read(const char *page, uint32_t blkno, pglab_header *out)
{
    PageHeader ph = (PageHeader) page;
    GUARD();
    out->lsn_hi = ph->pd_lsn.xlogid;
    out->lsn_lo = ph->pd_lsn.xrecoff;
    out->checksum = ph->pd_checksum;
    out->flags = ph->pd_flags;
    out->lower = ph->pd_lower;
    out->upper = ph->pd_upper;
    out->special = ph->pd_special;
    out->pagesize = PageGetPageSize((Page) page);
    out->version = PageGetPageLayoutVersion((Page) page);
    out->prune_xid = ph->pd_prune_xid;
    out->is_new = PageIsNew((Page) page);
    out->max_offset = (ph->pd_lower <= SizeOfPageHeaderData || ph->pd_lower > BLCKSZ) ? 0
        : PageGetMaxOffsetNumber((Page) page);
    /* pg_checksum_page stores and restores pd_checksum: the page is only read */
    out->computed_checksum = out->is_new ? 0 : pg_checksum_page((char *) page, blkno);
    return 0;
}

static const struct { const char *name; uint16_t bit; } pd_flags[] = {
    {"PD_HAS_FREE_LINES", PD_HAS_FREE_LINES}, {"PD_PAGE_FULL", PD_PAGE_FULL}, {"PD_ALL_VISIBLE", PD_ALL_VISIBLE}};

static void jname(jbuf *b, int *first, const char *name)
{
    if (!*first) JLIT(b, ", ");
    *first = 0;
    JLIT(b, "\"");
    jstr(b, name);
    JLIT(b, "\"");
}

static void jheader(jbuf *b, const pglab_header *h, int checksums)
{
    int first = 1;
    size_t i;
    jfmt(b, "{\"lsn\": \"%X/%X\", \"lsn_int\": %llu, \"checksum\": %u, \"flags\": %u, \"lower\": %u, "
         "\"upper\": %u, \"special\": %u, \"pagesize\": %u, \"version\": %u, \"prune_xid\": %u, \"flag_names\": [",
         h->lsn_hi, h->lsn_lo, ((unsigned long long) h->lsn_hi << 32) | h->lsn_lo, h->checksum, h->flags,
         h->lower, h->upper, h->special, h->pagesize, h->version, h->prune_xid);
    for (i = 0; i < lengthof(pd_flags); i++)
        if (h->flags & pd_flags[i].bit)
            jname(b, &first, pd_flags[i].name);
    JLIT(b, "], \"new\": ");
    jbool(b, h->is_new);
    jkey_int(b, ", \"max_offset\": ", h->max_offset);
    JLIT(b, ", \"checksum_ok\": ");
    if (h->is_new || !checksums) JLIT(b, "null"); else jbool(b, h->checksum == h->computed_checksum);
    JLIT(b, ", \"computed_checksum\": ");
    if (h->is_new) JLIT(b, "null"); else jint(b, h->computed_checksum);
    JLIT(b, "}");
}

int pglab_header_json(const char *page, uint32_t blkno, int checksums, char *out, uint32_t cap)
{
    jbuf b = {out, 0, cap, 0};
    pglab_header h;
    if (pglab_header_read(page, blkno, &h) < 0)
        return -1;
    GUARD();
    jheader(&b, &h, checksums);
    return jfinish(&b);
}

/* ---- a heap page ------------------------------------------------------------------------ */

static const struct { const char *name; uint16_t bit; } infomask_flags[] = {
    {"HEAP_HASNULL", HEAP_HASNULL}, {"HEAP_HASVARWIDTH", HEAP_HASVARWIDTH}, {"HEAP_HASEXTERNAL", HEAP_HASEXTERNAL},
    {"HEAP_HASOID_OLD", HEAP_HASOID_OLD}, {"HEAP_XMAX_KEYSHR_LOCK", HEAP_XMAX_KEYSHR_LOCK},
    {"HEAP_COMBOCID", HEAP_COMBOCID}, {"HEAP_XMAX_EXCL_LOCK", HEAP_XMAX_EXCL_LOCK},
    {"HEAP_XMAX_LOCK_ONLY", HEAP_XMAX_LOCK_ONLY}, {"HEAP_XMIN_COMMITTED", HEAP_XMIN_COMMITTED},
    {"HEAP_XMIN_INVALID", HEAP_XMIN_INVALID}, {"HEAP_XMAX_COMMITTED", HEAP_XMAX_COMMITTED},
    {"HEAP_XMAX_INVALID", HEAP_XMAX_INVALID}, {"HEAP_XMAX_IS_MULTI", HEAP_XMAX_IS_MULTI},
    {"HEAP_UPDATED", HEAP_UPDATED}, {"HEAP_MOVED_OFF", HEAP_MOVED_OFF}, {"HEAP_MOVED_IN", HEAP_MOVED_IN}};
static const struct { const char *name; uint16_t bit; } infomask2_flags[] = {
    {"HEAP_KEYS_UPDATED", HEAP_KEYS_UPDATED}, {"HEAP_HOT_UPDATED", HEAP_HOT_UPDATED},
    {"HEAP_ONLY_TUPLE", HEAP_ONLY_TUPLE}};
/* what heap_tuple_infomask_flags reports as combined: every bit of each set */
static const struct { const char *name; uint16_t bits; } combined_flags[] = {
    {"HEAP_XMAX_SHR_LOCK", HEAP_XMAX_SHR_LOCK}, {"HEAP_XMIN_FROZEN", HEAP_XMIN_FROZEN}, {"HEAP_MOVED", HEAP_MOVED}};
static const char *const lp_states[] = {"unused", "normal", "redirect", "dead"};

static void jtuple(jbuf *b, const unsigned char *page, uint16_t off, uint16_t len, const pglab_attrs *attrs,
                   int with_values)
{
    HeapTupleHeader t = (HeapTupleHeader) (page + off);
    uint16_t mask = t->t_infomask, mask2 = t->t_infomask2;
    int natts = HeapTupleHeaderGetNatts(t), first = 1;
    int has_data = t->t_hoff >= SizeofHeapTupleHeader && t->t_hoff <= len && t->t_hoff == MAXALIGN(t->t_hoff);
    size_t i;
    jkey_int(b, ", \"t_xmin\": ", HeapTupleHeaderGetRawXmin(t));
    jkey_int(b, ", \"t_xmax\": ", HeapTupleHeaderGetRawXmax(t));
    jkey_int(b, ", \"t_field3\": ", HeapTupleHeaderGetRawCommandId(t));
    jkey_int(b, ", \"t_ctid\": \"(", ItemPointerGetBlockNumberNoCheck(&t->t_ctid));
    jkey_int(b, ",", ItemPointerGetOffsetNumberNoCheck(&t->t_ctid));
    jkey_int(b, ")\", \"t_infomask2\": ", mask2);
    jkey_int(b, ", \"t_infomask\": ", mask);
    jkey_int(b, ", \"t_hoff\": ", t->t_hoff);
    JLIT(b, ", \"t_bits\": ");
    if (has_data && (mask & HEAP_HASNULL))
    {
        int nbits = BITMAPLEN(natts) * 8, k;
        char bitsbuf[8 * 256 + 2];
        for (k = 0; k < nbits && k < (int) sizeof(bitsbuf) - 1; k++)
            bitsbuf[k] = (t->t_bits[k >> 3] & (1 << (k & 7))) ? '1' : '0';
        JLIT(b, "\"");
        jput(b, bitsbuf, k);
        JLIT(b, "\"");
    }
    else
        JLIT(b, "null");
    jkey_int(b, ", \"natts\": ", natts);
    JLIT(b, ", \"raw_flags\": [");
    for (i = 0; i < lengthof(infomask_flags); i++)
        if (mask & infomask_flags[i].bit) jname(b, &first, infomask_flags[i].name);
    for (i = 0; i < lengthof(infomask2_flags); i++)
        if (mask2 & infomask2_flags[i].bit) jname(b, &first, infomask2_flags[i].name);
    JLIT(b, "], \"combined_flags\": [");
    first = 1;
    for (i = 0; i < lengthof(combined_flags); i++)
        if ((mask & combined_flags[i].bits) == combined_flags[i].bits) jname(b, &first, combined_flags[i].name);
    JLIT(b, "], \"hot_updated\": ");
    jbool(b, (mask2 & HEAP_HOT_UPDATED) != 0);
    JLIT(b, ", \"heap_only\": ");
    jbool(b, (mask2 & HEAP_ONLY_TUPLE) != 0);
    if (has_data && with_values && attrs)
    {
        JLIT(b, ", \"values\": ");
        jvalues(b, page + off + t->t_hoff, len - t->t_hoff, natts, (mask & HEAP_HASNULL) ? t->t_bits : NULL, attrs);
    }
}

/* One heap page as JSON: header, visibility-map bits, every line pointer, tuple headers, values, HOT links. */
int pglab_heap_page_json(const char *page, uint32_t blkno, int checksums, int vm_bits, const pglab_attrs *attrs,
                         int with_values, char *out, uint32_t cap)
{
    Page p = (Page) page;
    const unsigned char *bytes = (const unsigned char *) page;
    jbuf b = {out, 0, cap, 0};
    pglab_header h;
    int n, i;
    if (pglab_header_read(page, blkno, &h) < 0)
        return -1;
    GUARD();
    n = h.max_offset;
    jkey_int(&b, "{\"kind\": \"heap\", \"block\": ", blkno);
    JLIT(&b, ", \"header\": ");
    jheader(&b, &h, checksums);
    jkey_int(&b, ", \"free_space\": ", h.upper > h.lower ? h.upper - h.lower : 0);
    JLIT(&b, ", \"vm\": {\"all_visible\": ");
    jbool(&b, (vm_bits & VISIBILITYMAP_ALL_VISIBLE) != 0);
    JLIT(&b, ", \"all_frozen\": ");
    jbool(&b, (vm_bits & VISIBILITYMAP_ALL_FROZEN) != 0);
    JLIT(&b, "}, \"items\": [");
    for (i = 1; i <= n; i++)
    {
        ItemId id = PageGetItemId(p, i);
        uint16_t off = ItemIdGetOffset(id), len = ItemIdGetLength(id), flags = ItemIdGetFlags(id);
        int next = 0;
        if (i > 1) JLIT(&b, ", ");
        jkey_int(&b, "{\"lp\": ", i);
        jkey_int(&b, ", \"lp_off\": ", off);
        jkey_int(&b, ", \"lp_flags\": ", flags);
        jkey_int(&b, ", \"lp_len\": ", len);
        JLIT(&b, ", \"state\": \"");
        jstr(&b, lp_states[flags]);
        JLIT(&b, "\"");
        if (flags == LP_REDIRECT)
        {
            jkey_int(&b, ", \"redirect_to\": ", off);
            next = off;
        }
        /* pageinspect's heap_page_items reads a tuple header under the same conditions */
        if (ItemIdHasStorage(id) && len >= MinHeapTupleSize && off == MAXALIGN(off) && off >= SizeOfPageHeaderData
            && (uint32_t) off + len <= BLCKSZ)
        {
            HeapTupleHeader t = (HeapTupleHeader) (bytes + off);
            jtuple(&b, bytes, off, len, attrs, with_values);
            if (ItemPointerGetBlockNumberNoCheck(&t->t_ctid) == blkno &&
                ItemPointerGetOffsetNumberNoCheck(&t->t_ctid) != i)
                next = ItemPointerGetOffsetNumberNoCheck(&t->t_ctid);
        }
        if (next >= 1 && next <= n)
            jkey_int(&b, ", \"next\": ", next);
        JLIT(&b, "}");
    }
    JLIT(&b, "]}");
    return jfinish(&b);
}

/* ---- B-tree ----------------------------------------------------------------------------- */

int pglab_bt_opaque_read(const char *page, pglab_bt_opaque *out)
{
    Page p = (Page) page;
    BTPageOpaqueData *o;
    GUARD();
    out->special_ok = ((PageHeader) p)->pd_special == BLCKSZ - MAXALIGN(sizeof(BTPageOpaqueData));
    if (!out->special_ok)
        return 0;
    o = (BTPageOpaqueData *) PageGetSpecialPointer(p);
    out->prev = o->btpo_prev;
    out->next = o->btpo_next;
#if PG_VERSION_NUM >= 140000
    out->level = o->btpo_level;
    out->xact = 0;
#else
    out->level = o->btpo.level;
    out->xact = o->btpo.xact;
#endif
    out->flags = o->btpo_flags;
    out->cycleid = o->btpo_cycleid;
    return 0;
}

int pglab_bt_items(const char *page, pglab_bt_item *out, int max)
{
    Page p = (Page) page;
    int n, i;
    GUARD();
    n = (((PageHeader) p)->pd_lower <= SizeOfPageHeaderData || ((PageHeader) p)->pd_lower > BLCKSZ) ? 0
        : PageGetMaxOffsetNumber(p);
    if (n > max) n = max;
    for (i = 0; i < n; i++)
    {
        ItemId id = PageGetItemId(p, i + 1);
        pglab_bt_item *o = &out[i];
        uint16_t off = ItemIdGetOffset(id), len = ItemIdGetLength(id);
        IndexTuple itup;
        ItemPointer htid;
        int dlen;
        memset(o, 0, sizeof(*o));
        o->lp_off = off;
        o->lp_flags = ItemIdGetFlags(id);
        o->lp_len = len;
        if (!ItemIdHasStorage(id) || len < sizeof(IndexTupleData) || off < SizeOfPageHeaderData
            || (uint32_t) off + len > BLCKSZ)
            continue;
        itup = (IndexTuple) PageGetItem(p, id);
        if (IndexTupleSize(itup) > len)
            continue;
        o->has_tuple = 1;
        o->tid_block = ItemPointerGetBlockNumberNoCheck(&itup->t_tid);
        o->tid_offset = ItemPointerGetOffsetNumberNoCheck(&itup->t_tid);
        o->size = IndexTupleSize(itup);
        o->nulls = IndexTupleHasNulls(itup) ? 1 : 0;
        o->vars = IndexTupleHasVarwidths(itup) ? 1 : 0;
        o->data_off = IndexInfoFindDataOffset(itup->t_info);
        dlen = IndexTupleSize(itup) - IndexInfoFindDataOffset(itup->t_info);
        o->is_posting = BTreeTupleIsPosting(itup);
        o->is_pivot = BTreeTupleIsPivot(itup);
        /* the key bytes without the posting list or a pivot's heap TID, as bt_page_items shows them */
        if (o->is_posting)
        {
            o->nposting = BTreeTupleGetNPosting(itup);
            o->posting_off = BTreeTupleGetPostingOffset(itup);
            dlen -= IndexTupleSize(itup) - BTreeTupleGetPostingOffset(itup);
        }
        else if (o->is_pivot && BTreeTupleGetHeapTID(itup) != NULL)
            dlen -= MAXALIGN(sizeof(ItemPointerData));
        o->data_len = dlen < 0 ? 0 : dlen;
        htid = BTreeTupleGetHeapTID(itup);
        if (htid)
        {
            o->has_htid = 1;
            o->htid_block = ItemPointerGetBlockNumberNoCheck(htid);
            o->htid_offset = ItemPointerGetOffsetNumberNoCheck(htid);
        }
    }
    return n;
}

int pglab_bt_meta_read(const char *page, pglab_bt_meta *out)
{
    BTMetaPageData *m = BTPageGetMeta((Page) page);
    GUARD();
    memset(out, 0, sizeof(*out));
    out->magic = m->btm_magic;
    out->version = m->btm_version;
    out->root = m->btm_root;
    out->level = m->btm_level;
    out->fastroot = m->btm_fastroot;
    out->fastlevel = m->btm_fastlevel;
#if PG_VERSION_NUM >= 140000
    out->last_cleanup_num_delpages = m->btm_last_cleanup_num_delpages;
#else
    out->oldest_xact = m->btm_oldest_btpo_xact;
#endif
    out->last_cleanup_num_tuples = m->btm_last_cleanup_num_heap_tuples;
    out->allequalimage = m->btm_allequalimage;
    return 0;
}

int pglab_tids(const char *p, int n, uint32_t *blocks, uint16_t *offsets)
{
    const ItemPointerData *tids = (const ItemPointerData *) p;
    int i;
    GUARD();
    for (i = 0; i < n; i++)
    {
        blocks[i] = ItemPointerGetBlockNumberNoCheck(&tids[i]);
        offsets[i] = ItemPointerGetOffsetNumberNoCheck(&tids[i]);
    }
    return n;
}

/* ---- GIN -------------------------------------------------------------------------------- */

/* ginpostinglist.c packs a TID into one integer, the offset in the low 11 bits
 * (its MaxHeapTuplesPerPageBits, which no header exports), and writes the gaps
 * between successive TIDs as varbytes: 7 bits a byte, the high bit saying more follow. */
#define GIN_TID_OFFSET_BITS 11

static void jtid(jbuf *b, uint32_t blk, uint32_t off)
{
    JLIT(b, "\"(");
    jint(b, blk);
    JLIT(b, ",");
    jint(b, off);
    JLIT(b, ")\"");
}

/* One GinPostingList segment's TIDs as a JSON array; -1 when its bytes run past END. */
static int jgin_segment(jbuf *b, const GinPostingList *seg, const char *end, int *count)
{
    const unsigned char *p = seg->bytes, *stop = seg->bytes + seg->nbytes;
    uint64_t val;
    int n = 1;
    if ((const char *) stop > end)
        return -1;
    val = ((uint64_t) GinItemPointerGetBlockNumber(&seg->first) << GIN_TID_OFFSET_BITS)
        | GinItemPointerGetOffsetNumber(&seg->first);
    JLIT(b, "[");
    jtid(b, GinItemPointerGetBlockNumber(&seg->first), GinItemPointerGetOffsetNumber(&seg->first));
    while (p < stop)
    {
        uint64_t delta = 0;
        int shift = 0;
        for (;;)
        {
            uint64_t c;
            if (p >= stop) return -1;
            c = *p++;
            delta |= (shift < 42 ? (c & 0x7F) : c) << shift;
            if (!(c & 0x80) || shift >= 42) break;
            shift += 7;
        }
        val += delta;
        JLIT(b, ", ");
        jtid(b, (uint32_t) (val >> GIN_TID_OFFSET_BITS), (uint32_t) (val & ((1 << GIN_TID_OFFSET_BITS) - 1)));
        n++;
    }
    JLIT(b, "]");
    *count = n;
    return 0;
}

static const struct { const char *name; uint16_t bit; } gin_flags[] = {
    {"data", GIN_DATA}, {"leaf", GIN_LEAF}, {"deleted", GIN_DELETED}, {"meta", GIN_META}, {"list", GIN_LIST},
    {"list_fullrow", GIN_LIST_FULLROW}, {"incomplete_split", GIN_INCOMPLETE_SPLIT}, {"compressed", GIN_COMPRESSED}};

static const char *gin_category(int cat)
{
    switch (cat)
    {
        case GIN_CAT_NORM_KEY: return "norm key";
        case GIN_CAT_NULL_KEY: return "null key";
        case GIN_CAT_EMPTY_ITEM: return "empty item";
        case GIN_CAT_NULL_ITEM: return "null item";
        default: return "unknown";
    }
}

/* An entry-tree or pending-list tuple: its column, null category, key, and what it leads to.
 * KEYS[0] describes the key of a one-column index; for several columns, KEYS[c] is
 * (int2 attnum, column c+1's key), the tuple descriptor gin_private.h's GinState uses. */
static void jgin_entry(jbuf *b, const char *page, IndexTuple itup, uint16_t len, const pglab_attrs *const *keys,
                       int ncols, int leaf, int pending)
{
    const unsigned char *t = (const unsigned char *) itup;
    uint32_t size = IndexTupleSize(itup), dataoff = IndexInfoFindDataOffset(itup->t_info), keyend = size, off = 0;
    const bits8 *bits = IndexTupleHasNulls(itup) ? (const bits8 *) (t + sizeof(IndexTupleData)) : NULL;
    const pglab_attrs *a = keys[0];
    int attnum = 1, first = 0, cat = GIN_CAT_NORM_KEY;
    jkey_int(b, ", \"itemlen\": ", size);
    JLIT(b, ", \"nulls\": ");
    jbool(b, bits != NULL);
    if (size > len || dataoff > size)
    {
        JLIT(b, ", \"error\": \"tuple longer than its line pointer\"");
        return;
    }
    if (ncols > 1)
    {
        int16_t n;
        memcpy(&n, t + dataoff, sizeof(n));
        attnum = n;
        if (attnum < 1 || attnum > ncols)
        {
            jkey_int(b, ", \"attnum\": ", attnum);
            JLIT(b, ", \"error\": \"no such column\"");
            return;
        }
        a = keys[attnum - 1];
        first = 1;
        off = sizeof(int16_t);
    }
    if (bits)
        cat = *(const GinNullCategory *) (t + dataoff + (ncols > 1 ? sizeof(int16) : 0));
    if (leaf && !pending && !GinIsPostingTree(itup) && GinGetPostingOffset(itup) <= size)
        keyend = GinGetPostingOffset(itup);
    jkey_int(b, ", \"attnum\": ", attnum);
    JLIT(b, ", \"category\": \"");
    jstr(b, gin_category(cat));
    JLIT(b, "\", \"keys\": [");
    if (keyend > dataoff)
        jvalues_range(b, t + dataoff, keyend - dataoff, a->natts, bits, a, first, a->natts, &off);
    JLIT(b, "]");
    if (pending)
    {
        JLIT(b, ", \"ctid\": ");
        jtid(b, ItemPointerGetBlockNumberNoCheck(&itup->t_tid), ItemPointerGetOffsetNumberNoCheck(&itup->t_tid));
        return;
    }
    if (!leaf)
    {
        jkey_int(b, ", \"downlink\": ", GinGetDownlink(itup));
        return;
    }
    if (GinIsPostingTree(itup))
    {
        jkey_int(b, ", \"posting_tree\": ", GinGetPostingTree(itup));
        return;
    }
    jkey_int(b, ", \"nposting\": ", GinGetNPosting(itup));
    JLIT(b, ", \"compressed\": ");
    jbool(b, GinItupIsCompressed(itup));
    JLIT(b, ", \"tids\": ");
    if (GinGetNPosting(itup) == 0)
        JLIT(b, "[]");
    else if (GinItupIsCompressed(itup))
    {
        int n = 0;
        const GinPostingList *seg = (const GinPostingList *) GinGetPosting(itup);
        if ((const char *) seg + offsetof(GinPostingList, bytes) > (const char *) t + size
            || jgin_segment(b, seg, (const char *) t + size, &n) < 0)
            JLIT(b, "null, \"error\": \"posting list past the end of the tuple\"");
    }
    else
    {
        const ItemPointerData *ip = (const ItemPointerData *) GinGetPosting(itup);
        int i, n = GinGetNPosting(itup);
        if ((const char *) (ip + n) > (const char *) t + size)
            JLIT(b, "null");
        else
        {
            JLIT(b, "[");
            for (i = 0; i < n; i++)
            {
                if (i) JLIT(b, ", ");
                jtid(b, ItemPointerGetBlockNumberNoCheck(&ip[i]), ItemPointerGetOffsetNumberNoCheck(&ip[i]));
            }
            JLIT(b, "]");
        }
    }
}

static void jline_pointer(jbuf *b, int i, ItemId id)
{
    jkey_int(b, "{\"itemoffset\": ", i);
    jkey_int(b, ", \"lp_off\": ", ItemIdGetOffset(id));
    jkey_int(b, ", \"lp_flags\": ", ItemIdGetFlags(id));
    jkey_int(b, ", \"lp_len\": ", ItemIdGetLength(id));
    JLIT(b, ", \"state\": \"");
    jstr(b, lp_states[ItemIdGetFlags(id)]);
    JLIT(b, "\"");
}

static int item_fits(ItemId id, uint32_t minlen)
{
    return ItemIdHasStorage(id) && ItemIdGetLength(id) >= minlen && ItemIdGetOffset(id) >= SizeOfPageHeaderData
        && (uint32_t) ItemIdGetOffset(id) + ItemIdGetLength(id) <= BLCKSZ;
}

static int line_pointers(Page p)
{
    PageHeader ph = (PageHeader) p;
    return (ph->pd_lower <= SizeOfPageHeaderData || ph->pd_lower > BLCKSZ) ? 0 : PageGetMaxOffsetNumber(p);
}

/* One GIN page as JSON: the opaque area (gin_page_opaque_info), then what the page holds:
 * the meta page (gin_metapage_info), entry-tree tuples, pending-list tuples, a posting tree's
 * compressed segments (gin_leafpage_items) or its PostingItems. */
int pglab_gin_page_json(const char *page, uint32_t blkno, int checksums, const pglab_attrs *const *keys, int ncols,
                        char *out, uint32_t cap)
{
    Page p = (Page) page;
    jbuf b = {out, 0, cap, 0};
    pglab_header h;
    GinPageOpaque opaq;
    int i, first = 1;
    uint16_t flags, unknown;
    if (pglab_header_read(page, blkno, &h) < 0)
        return -1;
    GUARD();
    jkey_int(&b, "{\"kind\": \"gin\", \"block\": ", blkno);
    JLIT(&b, ", \"header\": ");
    jheader(&b, &h, checksums);
    jkey_int(&b, ", \"free_space\": ", h.upper > h.lower ? h.upper - h.lower : 0);
    if (h.is_new || h.special != BLCKSZ - MAXALIGN(sizeof(GinPageOpaqueData)))
    {
        JLIT(&b, ", \"type\": \"");
        jstr(&b, h.is_new ? "new" : "unknown");
        JLIT(&b, "\"}");
        return jfinish(&b);
    }
    opaq = GinPageGetOpaque(p);
    flags = opaq->flags;
    unknown = flags;
    jkey_int(&b, ", \"opaque\": {\"rightlink\": ", opaq->rightlink);
    jkey_int(&b, ", \"maxoff\": ", opaq->maxoff);
    jkey_int(&b, ", \"flags\": ", flags);
    JLIT(&b, ", \"rightmost\": ");
    jbool(&b, GinPageRightMost(p));
    JLIT(&b, ", \"flag_names\": [");
    for (i = 0; i < (int) lengthof(gin_flags); i++)
        if (flags & gin_flags[i].bit)
        {
            jname(&b, &first, gin_flags[i].name);
            unknown &= ~gin_flags[i].bit;
        }
    if (unknown)
    {
        char hex[8];
        snprintf(hex, sizeof(hex), "%x", unknown);
        jname(&b, &first, hex);
    }
    JLIT(&b, "]}");
    if (flags & GIN_META)
    {
        GinMetaPageData *m = GinPageGetMeta(p);
        JLIT(&b, ", \"type\": \"meta\"");
        jkey_int(&b, ", \"meta\": {\"pending_head\": ", m->head);
        jkey_int(&b, ", \"pending_tail\": ", m->tail);
        jkey_int(&b, ", \"tail_free_size\": ", m->tailFreeSize);
        jkey_int(&b, ", \"n_pending_pages\": ", m->nPendingPages);
        jkey_int(&b, ", \"n_pending_tuples\": ", m->nPendingHeapTuples);
        jkey_int(&b, ", \"n_total_pages\": ", m->nTotalPages);
        jkey_int(&b, ", \"n_entry_pages\": ", m->nEntryPages);
        jkey_int(&b, ", \"n_data_pages\": ", m->nDataPages);
        jkey_int(&b, ", \"n_entries\": ", m->nEntries);
        jkey_int(&b, ", \"version\": ", m->ginVersion);
        JLIT(&b, "}}");
        return jfinish(&b);
    }
    if (flags & GIN_DELETED)
    {
        JLIT(&b, ", \"type\": \"deleted\"}");
        return jfinish(&b);
    }
    if (flags & GIN_DATA)
    {
        ItemPointer bound = GinDataPageGetRightBound(p);
        JLIT(&b, ", \"type\": \"");
        jstr(&b, (flags & GIN_LEAF) ? "posting leaf" : "posting internal");
        JLIT(&b, "\", \"right_bound\": ");
        jtid(&b, ItemPointerGetBlockNumberNoCheck(bound), ItemPointerGetOffsetNumberNoCheck(bound));
        if ((flags & GIN_LEAF) && (flags & GIN_COMPRESSED))
        {
            const char *seg = (const char *) GinDataLeafPageGetPostingList(p);
            const char *end = seg + GinDataLeafPageGetPostingListSize(p);
            int k = 0;
            if (end > page + BLCKSZ)
                end = page + BLCKSZ;
            JLIT(&b, ", \"segments\": [");
            while (seg + offsetof(GinPostingList, bytes) <= end && seg < end)
            {
                const GinPostingList *s = (const GinPostingList *) seg;
                int n = 0;
                if (k++) JLIT(&b, ", ");
                JLIT(&b, "{\"first_tid\": ");
                jtid(&b, GinItemPointerGetBlockNumber(&s->first), GinItemPointerGetOffsetNumber(&s->first));
                jkey_int(&b, ", \"nbytes\": ", s->nbytes);
                jkey_int(&b, ", \"offset\": ", seg - page);
                JLIT(&b, ", \"tids\": ");
                if (jgin_segment(&b, s, end, &n) < 0)
                {
                    JLIT(&b, "null, \"error\": \"segment past the end of the posting list\"}");
                    break;
                }
                JLIT(&b, "}");
                seg = (const char *) GinNextPostingListSegment(s);
            }
            JLIT(&b, "]");
        }
        else if (!(flags & GIN_LEAF))
        {
            int n = opaq->maxoff;
            if ((const char *) GinDataPageGetPostingItem(p, n + 1) > page + h.special)
                n = 0;
            JLIT(&b, ", \"items\": [");
            for (i = 1; i <= n; i++)
            {
                PostingItem *pi = GinDataPageGetPostingItem(p, i);
                if (i > 1) JLIT(&b, ", ");
                jkey_int(&b, "{\"itemoffset\": ", i);
                jkey_int(&b, ", \"child\": ", PostingItemGetBlockNumber(pi));
                JLIT(&b, ", \"key\": ");
                jtid(&b, ItemPointerGetBlockNumberNoCheck(&pi->key), ItemPointerGetOffsetNumberNoCheck(&pi->key));
                JLIT(&b, "}");
            }
            JLIT(&b, "]");
        }
        JLIT(&b, "}");
        return jfinish(&b);
    }
    JLIT(&b, ", \"type\": \"");
    jstr(&b, (flags & GIN_LIST) ? "pending" : (flags & GIN_LEAF) ? "entry leaf" : "entry internal");
    JLIT(&b, "\", \"items\": [");
    for (i = 1; i <= line_pointers(p); i++)
    {
        ItemId id = PageGetItemId(p, i);
        if (i > 1) JLIT(&b, ", ");
        jline_pointer(&b, i, id);
        if (item_fits(id, sizeof(IndexTupleData)))
            jgin_entry(&b, page, (IndexTuple) PageGetItem(p, id), ItemIdGetLength(id), keys, ncols,
                       (flags & (GIN_LEAF | GIN_LIST)) != 0, (flags & GIN_LIST) != 0);
        JLIT(&b, "}");
    }
    JLIT(&b, "]}");
    return jfinish(&b);
}

/* ---- BRIN ------------------------------------------------------------------------------- */

/* One BRIN page as JSON: the meta page (brin_metapage_info), a revmap page's TIDs
 * (brin_revmap_data) or a regular page's summary tuples (brin_page_items).  STORED describes
 * the values each tuple stores, column after column; NSTORED[c] how many column c stores
 * (-1: not known, and no value of it or a later column is decoded). */
int pglab_brin_page_json(const char *page, uint32_t blkno, int checksums, const pglab_attrs *stored,
                         const int *nstored, int ncols, char *out, uint32_t cap)
{
    Page p = (Page) page;
    jbuf b = {out, 0, cap, 0};
    pglab_header h;
    int i, type;
    if (pglab_header_read(page, blkno, &h) < 0)
        return -1;
    GUARD();
    jkey_int(&b, "{\"kind\": \"brin\", \"block\": ", blkno);
    JLIT(&b, ", \"header\": ");
    jheader(&b, &h, checksums);
    jkey_int(&b, ", \"free_space\": ", h.upper > h.lower ? h.upper - h.lower : 0);
    if (h.is_new || h.special != BLCKSZ - MAXALIGN(sizeof(BrinSpecialSpace)))
    {
        JLIT(&b, ", \"type\": \"");
        jstr(&b, h.is_new ? "new" : "unknown");
        JLIT(&b, "\"}");
        return jfinish(&b);
    }
    type = BrinPageType(p);
    jkey_int(&b, ", \"flags\": ", BrinPageFlags(p));
    JLIT(&b, ", \"evacuate\": ");
    jbool(&b, (BrinPageFlags(p) & BRIN_EVACUATE_PAGE) != 0);
    if (type == BRIN_PAGETYPE_META)
    {
        BrinMetaPageData *m = (BrinMetaPageData *) PageGetContents(p);
        char magic[16];
        snprintf(magic, sizeof(magic), "0x%08X", m->brinMagic);
        JLIT(&b, ", \"type\": \"meta\", \"meta\": {\"magic\": \"");
        jstr(&b, magic);
        jkey_int(&b, "\", \"version\": ", m->brinVersion);
        jkey_int(&b, ", \"pagesperrange\": ", m->pagesPerRange);
        jkey_int(&b, ", \"lastrevmappage\": ", m->lastRevmapPage);
        JLIT(&b, "}}");
        return jfinish(&b);
    }
    if (type == BRIN_PAGETYPE_REVMAP)
    {
        RevmapContents *r = (RevmapContents *) PageGetContents(p);
        JLIT(&b, ", \"type\": \"revmap\"");
        jkey_int(&b, ", \"revmap_items\": ", REVMAP_PAGE_MAXITEMS);
        JLIT(&b, ", \"revmap\": [");
        for (i = 0; i < (int) REVMAP_PAGE_MAXITEMS; i++)
        {
            if (i) JLIT(&b, ", ");
            jtid(&b, ItemPointerGetBlockNumberNoCheck(&r->rm_tids[i]),
                 ItemPointerGetOffsetNumberNoCheck(&r->rm_tids[i]));
        }
        JLIT(&b, "]}");
        return jfinish(&b);
    }
    if (type != BRIN_PAGETYPE_REGULAR)
    {
        jkey_int(&b, ", \"type\": \"unknown\", \"page_type\": ", type);
        JLIT(&b, "}");
        return jfinish(&b);
    }
    JLIT(&b, ", \"type\": \"regular\", \"items\": [");
    for (i = 1; i <= line_pointers(p); i++)
    {
        ItemId id = PageGetItemId(p, i);
        BrinTuple *t;
        const unsigned char *tp;
        const bits8 *nullbits;
        uint32_t off = 0, len, dataoff;
        int c, s = 0, known = 1;
        if (i > 1) JLIT(&b, ", ");
        jline_pointer(&b, i, id);
        if (!item_fits(id, SizeOfBrinTuple))
        {
            JLIT(&b, "}");
            continue;
        }
        t = (BrinTuple *) PageGetItem(p, id);
        dataoff = BrinTupleDataOffset(t);
        len = ItemIdGetLength(id);
        jkey_int(&b, ", \"blknum\": ", t->bt_blkno);
        JLIT(&b, ", \"placeholder\": ");
        jbool(&b, BrinTupleIsPlaceholder(t));
        JLIT(&b, ", \"empty\": ");
        jbool(&b, BrinTupleIsEmptyRange(t));
        jkey_int(&b, ", \"bt_info\": ", t->bt_info);
        if (dataoff > len)
        {
            JLIT(&b, ", \"error\": \"data offset past the end of the tuple\"}");
            continue;
        }
        tp = (const unsigned char *) t + dataoff;
        nullbits = BrinTupleHasNulls(t) ? (const bits8 *) ((const char *) t + SizeOfBrinTuple) : NULL;
        JLIT(&b, ", \"columns\": [");
        for (c = 0; c < ncols; c++)
        {
            /* brin_form_tuple sets a bit for a null (the reverse of a heap tuple's bitmap):
             * the "all nulls" bits first, then the "has nulls" bits; brin_deform_tuple reads
             * "has nulls" only for a column that has values */
            int allnulls = nullbits && (nullbits[c >> 3] & (1 << (c & 7)));
            int hasnulls = !allnulls && nullbits && (nullbits[(ncols + c) >> 3] & (1 << ((ncols + c) & 7)));
            if (c) JLIT(&b, ", ");
            jkey_int(&b, "{\"attnum\": ", c + 1);
            JLIT(&b, ", \"allnulls\": ");
            jbool(&b, allnulls);
            JLIT(&b, ", \"hasnulls\": ");
            jbool(&b, hasnulls);
            if (nstored[c] < 0)
                known = 0;
            if (!allnulls && known)
            {
                JLIT(&b, ", \"values\": [");
                if (jvalues_range(&b, tp, len - dataoff, stored->natts, NULL, stored, s, s + nstored[c], &off) < 0)
                    known = 0;
                JLIT(&b, "]");
            }
            else if (!allnulls)
                JLIT(&b, ", \"values\": null");
            if (known)
                s += nstored[c];
            JLIT(&b, "}");
        }
        JLIT(&b, "]}");
    }
    JLIT(&b, "]}");
    return jfinish(&b);
}

/* ---- hash ------------------------------------------------------------------------------- */

static const struct { const char *name; uint16_t bit; } hash_flags[] = {
    {"LH_OVERFLOW_PAGE", LH_OVERFLOW_PAGE}, {"LH_BUCKET_PAGE", LH_BUCKET_PAGE}, {"LH_BITMAP_PAGE", LH_BITMAP_PAGE},
    {"LH_META_PAGE", LH_META_PAGE}, {"LH_BUCKET_BEING_POPULATED", LH_BUCKET_BEING_POPULATED},
    {"LH_BUCKET_BEING_SPLIT", LH_BUCKET_BEING_SPLIT}, {"LH_BUCKET_NEEDS_SPLIT_CLEANUP", LH_BUCKET_NEEDS_SPLIT_CLEANUP},
    {"LH_PAGE_HAS_DEAD_TUPLES", LH_PAGE_HAS_DEAD_TUPLES}};

/* hashutil.c's _hash_get_totalbuckets: buckets there are once splitpoint phase PHASE is done */
static uint32_t hash_total_buckets(uint32_t phase)
{
    uint32_t group, total;
    if (phase < HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE)
        return 1U << phase;
    group = HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE + ((phase - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE)
                                                     >> HASH_SPLITPOINT_PHASE_BITS);
    total = 1U << (group - 1);
    total += ((1U << (group - 1)) >> HASH_SPLITPOINT_PHASE_BITS)
        * (((phase - HASH_SPLITPOINT_GROUPS_WITH_ONE_PHASE) & HASH_SPLITPOINT_PHASE_MASK) + 1);
    return total;
}

/* Where an overflow page's in-use bit is (hashovfl.c's _hash_ovflblkno_to_bitno, then
 * BMPG_SHIFT/BMPG_MASK): the bitmap page's block and the bit in it; -2 for a block that is
 * no overflow page. */
int pglab_hash_ovfl_bit(const char *metapage, uint32_t blkno, uint32_t *bitmapblk, uint32_t *bit)
{
    HashMetaPage m = HashPageGetMeta((Page) metapage);
    uint32_t i;
    GUARD();
    for (i = 1; i <= m->hashm_ovflpoint && i < HASH_MAX_SPLITPOINTS; i++)
    {
        uint32_t bitnum;
        if (blkno <= hash_total_buckets(i))
            break;
        bitnum = blkno - hash_total_buckets(i);
        if (bitnum > m->hashm_spares[i - 1] && bitnum <= m->hashm_spares[i])
        {
            uint32_t page = (bitnum - 1) >> BMPG_SHIFT(m);
            if (page >= m->hashm_nmaps || page >= HASH_MAX_BITMAPS)
                return -2;
            *bitmapblk = m->hashm_mapp[page];
            *bit = (bitnum - 1) & BMPG_MASK(m);
            return 0;
        }
    }
    return -2;
}

static void jhash_meta(jbuf *b, HashMetaPage m)
{
    int i;
    jkey_int(b, ", \"meta\": {\"magic\": ", m->hashm_magic);
    jkey_int(b, ", \"version\": ", m->hashm_version);
    jfmt(b, ", \"ntuples\": %.17g", m->hashm_ntuples);
    jkey_int(b, ", \"ffactor\": ", m->hashm_ffactor);
    jkey_int(b, ", \"bsize\": ", m->hashm_bsize);
    jkey_int(b, ", \"bmsize\": ", m->hashm_bmsize);
    jkey_int(b, ", \"bmshift\": ", m->hashm_bmshift);
    jkey_int(b, ", \"maxbucket\": ", m->hashm_maxbucket);
    jkey_int(b, ", \"highmask\": ", m->hashm_highmask);
    jkey_int(b, ", \"lowmask\": ", m->hashm_lowmask);
    jkey_int(b, ", \"ovflpoint\": ", m->hashm_ovflpoint);
    jkey_int(b, ", \"firstfree\": ", m->hashm_firstfree);
    jkey_int(b, ", \"nmaps\": ", m->hashm_nmaps);
    jkey_int(b, ", \"procid\": ", m->hashm_procid);
    JLIT(b, ", \"spares\": [");
    for (i = 0; i < HASH_MAX_SPLITPOINTS; i++)
    {
        if (i) JLIT(b, ", ");
        jint(b, m->hashm_spares[i]);
    }
    JLIT(b, "], \"mapp\": [");
    for (i = 0; i < HASH_MAX_BITMAPS; i++)
    {
        if (i) JLIT(b, ", ");
        jint(b, m->hashm_mapp[i]);
    }
    JLIT(b, "]}");
}

/* One hash index page as JSON: hash_page_type, and the meta page (hash_metapage_info), a
 * bucket or overflow page's stats and items (hash_page_stats, hash_page_items), or a bitmap
 * page's clear bits (BMSIZE: the meta page's hashm_bmsize, 0 when unknown). */
int pglab_hash_page_json(const char *page, uint32_t blkno, int checksums, uint32_t bmsize, char *out, uint32_t cap)
{
    Page p = (Page) page;
    jbuf b = {out, 0, cap, 0};
    pglab_header h;
    HashPageOpaque o;
    int i, first = 1, type, live = 0, dead = 0;
    const char *name;
    if (pglab_header_read(page, blkno, &h) < 0)
        return -1;
    GUARD();
    jkey_int(&b, "{\"kind\": \"hash\", \"block\": ", blkno);
    JLIT(&b, ", \"header\": ");
    jheader(&b, &h, checksums);
    jkey_int(&b, ", \"free_space\": ", h.upper > h.lower ? h.upper - h.lower : 0);
    if (h.is_new)
    {
        JLIT(&b, ", \"type\": \"unused\"}");
        return jfinish(&b);
    }
    o = (HashPageOpaque) PageGetSpecialPointer(p);
    if (h.special != BLCKSZ - MAXALIGN(sizeof(HashPageOpaqueData)) || o->hasho_page_id != HASHO_PAGE_ID)
    {
        JLIT(&b, ", \"type\": \"unknown\"}");
        return jfinish(&b);
    }
    type = o->hasho_flag & LH_PAGE_TYPE;
    name = type == LH_META_PAGE ? "metapage" : type == LH_BUCKET_PAGE ? "bucket" : type == LH_OVERFLOW_PAGE
        ? "overflow" : type == LH_BITMAP_PAGE ? "bitmap" : type == LH_UNUSED_PAGE ? "unused" : "unknown";
    JLIT(&b, ", \"type\": \"");
    jstr(&b, name);
    JLIT(&b, "\", \"flag_names\": [");
    for (i = 0; i < (int) lengthof(hash_flags); i++)
        if (o->hasho_flag & hash_flags[i].bit)
            jname(&b, &first, hash_flags[i].name);
    JLIT(&b, "]");
    if (type == LH_META_PAGE)
    {
        jhash_meta(&b, HashPageGetMeta(p));
        JLIT(&b, "}");
        return jfinish(&b);
    }
    if (type == LH_BITMAP_PAGE)
    {
        uint32_t *words = HashPageGetBitmap(p), nbits = bmsize * BITS_PER_BYTE, k;
        int n = 0;
        if ((char *) words + bmsize > page + h.special)
            nbits = 0;
        /* _hash_initbitmapbuffer sets every bit: a clear one is an overflow page freed for reuse */
        jkey_int(&b, ", \"bitmap\": {\"bits\": ", nbits);
        JLIT(&b, ", \"free\": [");
        for (k = 0; k < nbits; k++)
            if (!ISSET(words, k))
            {
                if (n++) JLIT(&b, ", ");
                jint(&b, k);
            }
        JLIT(&b, "]}}");
        return jfinish(&b);
    }
    for (i = 1; i <= line_pointers(p); i++)
        if (ItemIdIsDead(PageGetItemId(p, i))) dead++; else live++;
    jkey_int(&b, ", \"stats\": {\"live_items\": ", live);
    jkey_int(&b, ", \"dead_items\": ", dead);
    jkey_int(&b, ", \"page_size\": ", h.pagesize);
    {
        int gap = (int) h.upper - (int) h.lower;       /* PageGetFreeSpace */
        jkey_int(&b, ", \"free_size\": ", gap < (int) sizeof(ItemIdData) ? 0 : gap - (int) sizeof(ItemIdData));
    }
    jkey_int(&b, ", \"hasho_prevblkno\": ", o->hasho_prevblkno);
    jkey_int(&b, ", \"hasho_nextblkno\": ", o->hasho_nextblkno);
    jkey_int(&b, ", \"hasho_bucket\": ", o->hasho_bucket);
    jkey_int(&b, ", \"hasho_flag\": ", o->hasho_flag);
    jkey_int(&b, ", \"hasho_page_id\": ", o->hasho_page_id);
    JLIT(&b, "}, \"items\": [");
    for (i = 1; i <= line_pointers(p); i++)
    {
        ItemId id = PageGetItemId(p, i);
        if (i > 1) JLIT(&b, ", ");
        jline_pointer(&b, i, id);
        if (item_fits(id, sizeof(IndexTupleData)))
        {
            IndexTuple itup = (IndexTuple) PageGetItem(p, id);
            uint32_t dataoff = IndexInfoFindDataOffset(itup->t_info), hashkey;
            JLIT(&b, ", \"ctid\": ");
            jtid(&b, ItemPointerGetBlockNumberNoCheck(&itup->t_tid), ItemPointerGetOffsetNumberNoCheck(&itup->t_tid));
            jkey_int(&b, ", \"itemlen\": ", IndexTupleSize(itup));
            if (dataoff + sizeof(uint32) <= ItemIdGetLength(id))
            {
                memcpy(&hashkey, (const char *) itup + dataoff, sizeof(hashkey));
                jkey_int(&b, ", \"data\": ", hashkey);
            }
        }
        JLIT(&b, "}");
    }
    JLIT(&b, "]}");
    return jfinish(&b);
}

/* ---- the free space map ------------------------------------------------------------------ */

/* freespace.c's own (no header has them): a leaf holds a page's free space in one byte, a
 * category of BLCKSZ / 256 bytes (the top one stands for MaxHeapTupleSize), and the tree is
 * deep enough to address 2^32 - 1 blocks: three levels when a page holds 1626 slots or more. */
#define FSM_CATEGORIES (1 << (BITS_PER_BYTE * sizeof(((FSMPageData *) 0)->fp_nodes[0])))
#define FSM_CAT_STEP (BLCKSZ / FSM_CATEGORIES)
#define FSM_TREE_DEPTH ((SlotsPerFSMPage >= 1626) ? 3 : 4)

/* freespace.c's fsm_logical_to_physical: the FSM block holding level LEVEL's page LOGPAGENO */
static uint32_t fsm_physical(int level, uint32_t logpageno)
{
    uint64_t pages = 0, leafno = logpageno;
    int l;
    for (l = 0; l < level; l++)
        leafno *= SlotsPerFSMPage;
    for (l = 0; l < FSM_TREE_DEPTH; l++)
    {
        pages += leafno + 1;
        leafno /= SlotsPerFSMPage;
    }
    pages -= level;
    return (uint32_t) (pages - 1);
}

/* Where a heap block's category is: the FSM block (a leaf page of the tree) and the slot in it. */
uint32_t pglab_fsm_block(uint32_t heapblk, int *slot)
{
    *slot = heapblk % SlotsPerFSMPage;
    return fsm_physical(0, heapblk / SlotsPerFSMPage);
}

/* A leaf slot's category (fsm_get_avail), or with SLOT -1 the page's root node: the most any of its slots holds. */
int pglab_fsm_category(const char *fsmpage, int slot)
{
    const FSMPageData *f = (const FSMPageData *) PageGetContents((Page) fsmpage);
    GUARD();
    return slot < 0 ? f->fp_nodes[0] : f->fp_nodes[NonLeafNodesPerPage + slot];
}

/* fsm_space_cat_to_avail: the bytes a category promises (what pg_freespace shows) */
int pglab_fsm_avail(int cat)
{
    return cat == FSM_CATEGORIES - 1 ? (int) MaxHeapTupleSize : cat * FSM_CAT_STEP;
}

int pglab_fsm_depth(void)
{
    return FSM_TREE_DEPTH;
}

/* ---- a heap page's tuples, as pgstattuple counts them ------------------------------------ */

/* bufpage.c's PageGetHeapFreeSpace: the gap less a line pointer, and none when the page has
 * MaxHeapTuplesPerPage line pointers and no unused one */
static int heap_free_space(Page p)
{
    int space = (int) ((PageHeader) p)->pd_upper - (int) ((PageHeader) p)->pd_lower, n, i;
    if (space < (int) sizeof(ItemIdData))
        return 0;
    space -= sizeof(ItemIdData);
    n = line_pointers(p);
    if (space > 0 && n >= MaxHeapTuplesPerPage)
    {
        if (!PageHasFreeLinePointers(p))
            return 0;
        for (i = 1; i <= n; i++)
            if (!ItemIdIsUsed(PageGetItemId(p, i)))
                break;
        if (i > n)
            return 0;
    }
    return space;
}

int pglab_page_free_space(const char *page, int heap)
{
    Page p = (Page) page;
    int space = (int) ((PageHeader) p)->pd_upper - (int) ((PageHeader) p)->pd_lower;
    GUARD();
    if (heap)
        return heap_free_space(p);
    return space < (int) sizeof(ItemIdData) ? 0 : space - (int) sizeof(ItemIdData);     /* PageGetFreeSpace */
}

static int xact_status(pglab_fates *f, uint32_t xid)
{
    int lo = 0, hi = f->nxids - 1;
    if (!TransactionIdIsNormal(xid))         /* TransactionIdDidCommit: bootstrap and frozen did */
        return xid == InvalidTransactionId ? XS_ABORTED : XS_COMMITTED;
    while (lo <= hi)
    {
        int mid = (lo + hi) / 2;
        if (f->xids[mid] == xid) return f->status[mid];
        if (f->xids[mid] < xid) lo = mid + 1; else hi = mid - 1;
    }
    if (f->nneed_xids < f->need_cap)
        f->need_xids[f->nneed_xids++] = xid;
    return XS_UNKNOWN;
}

static int multi_updater(pglab_fates *f, uint32_t multi, uint32_t *updater)
{
    int lo = 0, hi = f->nmultis - 1;
    while (lo <= hi)
    {
        int mid = (lo + hi) / 2;
        if (f->multis[mid] == multi) { *updater = f->updaters[mid]; return 1; }
        if (f->multis[mid] < multi) lo = mid + 1; else hi = mid - 1;
    }
    if (f->nneed_multis < f->need_cap)
        f->need_multis[f->nneed_multis++] = multi;
    return 0;
}

/* HeapTupleSatisfiesDirty, as pgstattuple asks it of every tuple, for a session that has no
 * transaction of its own, with the statuses F gives (and hint bits where they settle it):
 * 1 live, 0 dead, -1 a status is missing; *IN_PROGRESS: the inserter or the deleter runs. */
static int dirty_visible(pglab_fates *f, HeapTupleHeader t, int *in_progress)
{
    uint16_t mask = t->t_infomask;
    *in_progress = 0;
    if (!HeapTupleHeaderXminCommitted(t))
    {
        int s;
        if (HeapTupleHeaderXminInvalid(t))
            return 0;
        if (mask & HEAP_MOVED_OFF)
        {
            s = xact_status(f, HeapTupleHeaderGetXvac(t));
            if (s == XS_UNKNOWN) return -1;
            if (s == XS_COMMITTED) return 0;
        }
        else if (mask & HEAP_MOVED_IN)
        {
            s = xact_status(f, HeapTupleHeaderGetXvac(t));
            if (s == XS_UNKNOWN) return -1;
            if (s != XS_COMMITTED) return 0;
        }
        else
        {
            s = xact_status(f, HeapTupleHeaderGetRawXmin(t));
            if (s == XS_UNKNOWN) return -1;
            if (s == XS_IN_PROGRESS) { *in_progress = 1; return 1; }     /* in insertion by other */
            if (s != XS_COMMITTED) return 0;
        }
    }
    if (mask & HEAP_XMAX_INVALID)
        return 1;
    if (mask & HEAP_XMAX_COMMITTED)
        return HEAP_XMAX_IS_LOCKED_ONLY(mask) ? 1 : 0;
    if (mask & HEAP_XMAX_IS_MULTI)
    {
        uint32_t updater;
        int s;
        if (HEAP_XMAX_IS_LOCKED_ONLY(mask))
            return 1;
        if (!multi_updater(f, HeapTupleHeaderGetRawXmax(t), &updater))
            return -1;
        if (updater == InvalidTransactionId)
            return 1;
        s = xact_status(f, updater);
        if (s == XS_UNKNOWN) return -1;
        if (s == XS_IN_PROGRESS) { *in_progress = 2; return 1; }
        return s == XS_COMMITTED ? 0 : 1;
    }
    {
        int s = xact_status(f, HeapTupleHeaderGetRawXmax(t));
        if (s == XS_UNKNOWN) return -1;
        if (s == XS_IN_PROGRESS)
        {
            if (!HEAP_XMAX_IS_LOCKED_ONLY(mask)) *in_progress = 2;
            return 1;
        }
        if (s != XS_COMMITTED) return 1;
        return HEAP_XMAX_IS_LOCKED_ONLY(mask) ? 1 : 0;
    }
}

/* Add one heap page to SUM: its tuples live or dead (as pgstattuple sees them through a dirty
 * snapshot), its line pointers by state, its free space (pgstattuple's measure: bufpage.c's
 * PageGetHeapFreeSpace before 18, PageGetExactFreeSpace from 18 on). */
int pglab_heap_summarize(const char *page, pglab_fates *f, pglab_heap_summary *sum)
{
    Page p = (Page) page;
    int i, n;
    GUARD();
    if (PageIsNew(p))
    {
        sum->new_pages++;
        return 0;
    }
#if PG_VERSION_NUM >= 180000
    {
        int gap = (int) ((PageHeader) p)->pd_upper - (int) ((PageHeader) p)->pd_lower;
        sum->free_space += gap < 0 ? 0 : gap;
    }
#else
    sum->free_space += heap_free_space(p);
#endif
    n = line_pointers(p);
    for (i = 1; i <= n; i++)
    {
        ItemId id = PageGetItemId(p, i);
        int live, in_progress;
        switch (ItemIdGetFlags(id))
        {
            case LP_UNUSED: sum->lp_unused++; continue;
            case LP_REDIRECT: sum->lp_redirect++; continue;
            case LP_DEAD: sum->lp_dead++; continue;
        }
        sum->lp_normal++;
        if (!item_fits(id, SizeofHeapTupleHeader))
            continue;
        live = dirty_visible(f, (HeapTupleHeader) PageGetItem(p, id), &in_progress);
        if (live < 0)
            sum->undecided++;
        else if (live)
        {
            sum->tuple_count++;
            sum->tuple_len += ItemIdGetLength(id);
            sum->live_space += MAXALIGN(ItemIdGetLength(id)) + sizeof(ItemIdData);
            if (in_progress == 1) sum->inserting++;
            if (in_progress == 2) sum->deleting++;
        }
        else
        {
            sum->dead_tuple_count++;
            sum->dead_tuple_len += ItemIdGetLength(id);
        }
    }
    return 0;
}

/* ---- shared buffers ----------------------------------------------------------------------- */

/* The buffers of one relation among a copy of the server's buffer descriptors (NBUFFERS
 * BufferDescPadded, as buf_internals.h lays them out): those whose tag is valid and names
 * the relation, with what pg_buffercache shows of them. */
int pglab_buffers(const char *descs, int nbuffers, uint32_t spc, uint32_t db, uint32_t relnumber, pglab_buffer *out,
                  int max)
{
    const BufferDescPadded *d = (const BufferDescPadded *) descs;
    int i, n = 0;
    GUARD();
    for (i = 0; i < nbuffers && n < max; i++)
    {
        const BufferDesc *b = &d[i].bufferdesc;
        uint32_t state = b->state.value;
#if PG_VERSION_NUM >= 160000
        uint32_t tspc = b->tag.spcOid, tdb = b->tag.dbOid, trel = b->tag.relNumber;
#else
        uint32_t tspc = b->tag.rnode.spcNode, tdb = b->tag.rnode.dbNode, trel = b->tag.rnode.relNode;
#endif
        if (!(state & BM_TAG_VALID) || !(state & BM_VALID) || tspc != spc || tdb != db || trel != relnumber)
            continue;
        out[n].buffer = b->buf_id + 1;
        out[n].fork = b->tag.forkNum;
        out[n].block = b->tag.blockNum;
        out[n].dirty = (state & BM_DIRTY) != 0;
        out[n].usage = BUF_STATE_GET_USAGECOUNT(state);
        out[n].pins = BUF_STATE_GET_REFCOUNT(state);
        out[n].state = state;
        n++;
    }
    return n;
}

int pglab_buffer_desc_size(void)
{
    return sizeof(BufferDescPadded);
}

/* ---- the visibility map ------------------------------------------------------------------ */

/* the two bits visibilitymap.c keeps for a heap block, from the VM page that holds them */
int pglab_vm_bits(const char *vmpage, uint32_t heapblk)
{
    uint32_t byte = (heapblk % HEAPBLOCKS_PER_PAGE) / HEAPBLOCKS_PER_BYTE;
    uint32_t shift = (heapblk % HEAPBLOCKS_PER_BYTE) * BITS_PER_HEAPBLOCK;
    const unsigned char *map = (const unsigned char *) PageGetContents((Page) vmpage);
    GUARD();
    return (map[byte] >> shift) & VISIBILITYMAP_VALID_BITS;
}

int pglab_heap_blocks_per_vm_page(void)
{
    return HEAPBLOCKS_PER_PAGE;
}
