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

/* the attributes of one tuple's data area, the way heap_deform_tuple walks it */
static void jvalues(jbuf *b, const unsigned char *tp, uint32_t len, int natts, const bits8 *bits,
                    const pglab_attrs *a)
{
    uint32_t off = 0;
    int i;
    JLIT(b, "[");
    for (i = 0; i < a->natts; i++)
    {
        int attlen = a->attlen[i], kind = a->kind[i];
        uint32_t size;
        if (i) JLIT(b, ", ");
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
            if (off + attlen > len) { JLIT(b, ", \"error\": \"past the end of the tuple\"}"); break; }
            size = attlen;
            if (kind != K_DROPPED) { JLIT(b, ", \"value\": "); jfixed(b, kind, tp + off, attlen); }
        }
        else if (attlen == -1)
        {
            pglab_varlena vl;
            if (pglab_varlena_read((const char *) tp + off, len - off, &vl) != 0)
            {
                JLIT(b, ", \"error\": \"varlena header past the end of the tuple\"}");
                break;
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
