/* ec_parity - drives the C core from stdin for the Python parity tests
 * (tests/firmware/test_parity.py). One command per line, one answer line each.
 * Floats travel as float32 bit patterns in hex so nothing is lost in printing.
 *
 *   policy CONF MARGIN LIMIT SCALE ZP K N Q1..QN PIXHEX MEANHEX
 *       -> ok K C1..CK F1..FK COMPLEXITY REASON | err CODE
 *   ring POOL SLOTS OPS     OPS: comma list of pLENf (push with frame), pLENn, o (pop)
 *       -> one token per op (push: rc, pop: id or E) | ids left | plain frame oversize
 *   encode HEX              -> framed HEX
 *   deframe CAP HEX         -> frames (HEX, comma list or -) ok cobs crc long short
 *   config HEX              -> ok REV CONF MARGIN LIMIT HAS_EPOCH EPOCH | err CODE KEY
 *   manifest HEX DEVICE     -> ok IDHEX VERSION TIER SHA SIZE ARENA CHUNK CONF MARGIN LIMIT
 *                              TARGETS | err CODE KEY
 *   chunk HEX               -> ok IDHEX VERSION INDEX OFFSET DATAHEX | err CODE KEY
 *   ota MHEX DEVICE MODEL RUNNING ARENA SLOT CHUNKS   (CHUNKS: comma list of chunk HEX, or -)
 *       -> VERDICT (start | ignore | too_large | arena_too_small | err) then, when
 *          started, one outcome per chunk (stored | duplicate | bad_chunk | err) and
 *          complete 0|1 and verified 0|1 (sha256 of the RAM slot vs the manifest)
 *   report ID EPOCH SEQ TS MODEL MV CLASSES CONFS CPLX DEADLINE PRIO PRIVATE FRAME
 *       (CLASSES/CONFS comma lists; CPLX/DEADLINE/PRIO '-' when absent;
 *        FRAME '-' or DTYPE:SCALE:ZP:SHAPE(c-list):DATAHEX) -> HEX | err CODE
 *   quantize SCALE ZP PIXHEX -> HEX
 *   complexity_q XHEX MEANHEX -> COMPLEXITY (int8 tensors)
 *   prov_reset FAIL         new provisioning session; FAIL 1 makes storage writes fail
 *   prov NOW_MS HEX         feed bytes -> answers (HEX, comma list or -) p<paused 0|1>
 *   audit ID EPOCH SEQ SHARE -> 1 | 0 (ec_audit_pick; ID '-' for the empty id)
 *   config_audit HEX CONF ID -> ok SHARE REASON ATTACH | err CODE KEY: decode a config,
 *                              apply it to a fresh session, then ec_policy_audit on a
 *                              decision of reason CONF (0 confident..) for device ID, the
 *                              session's epoch and seq
 *   fuzz SEED N             N random inputs through every decoder (ASan/UBSan watch)
 *       -> ok N ACCEPTED_CONFIGS FRAMES_OK LINES_ANSWERED
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec_config.h"
#include "ec_msgpack.h"
#include "ec_ota.h"
#include "ec_platform_host.h"
#include "ec_provision.h"
#include "ec_framing.h"
#include "ec_policy.h"
#include "ec_report.h"
#include "ec_ring.h"

#define MAX_LINE (1u << 20)
#define MAX_BYTES (1u << 19)

static char line[MAX_LINE];
static uint8_t bytes_a[MAX_BYTES];
static uint8_t bytes_b[MAX_BYTES];
static uint8_t out[MAX_BYTES];

static float f32(const char *hex)
{
    unsigned long bits = strtoul(hex, NULL, 16);
    uint32_t b = (uint32_t)bits;
    float f;
    memcpy(&f, &b, sizeof f);
    return f;
}

static unsigned long bits32(float f)
{
    uint32_t b;
    memcpy(&b, &f, sizeof b);
    return (unsigned long)b;
}

static long unhex(const char *hex, uint8_t *dst, size_t cap)
{
    size_t n = strlen(hex);
    size_t i;
    if (strcmp(hex, "-") == 0) {
        return 0;
    }
    if (n % 2 != 0 || n / 2 > cap) {
        return -1;
    }
    for (i = 0; i < n / 2; i++) {
        char tmp[3] = {hex[2 * i], hex[2 * i + 1], 0};
        dst[i] = (uint8_t)strtoul(tmp, NULL, 16);
    }
    return (long)(n / 2);
}

static void print_hex(const uint8_t *data, size_t len)
{
    size_t i;
    if (len == 0) {
        printf("-");
    }
    for (i = 0; i < len; i++) {
        printf("%02x", data[i]);
    }
}

/* strtok_r is POSIX, not C99: a small reentrant splitter on one separator set. */
static char *tok_r(char *s, const char *sep, char **save)
{
    char *start = s != NULL ? s : *save;
    char *end;
    if (start == NULL) {
        return NULL;
    }
    start += strspn(start, sep);
    if (*start == '\0') {
        *save = NULL;
        return NULL;
    }
    end = start + strcspn(start, sep);
    if (*end != '\0') {
        *end = '\0';
        *save = end + 1;
    } else {
        *save = NULL;
    }
    return start;
}

static char *next(void)
{
    char *t = strtok(NULL, " \n");
    return t != NULL ? t : (char *)"";
}

static void cmd_policy(void)
{
    ec_thresholds_t t;
    ec_policy_t p;
    ec_decision_t d;
    static int8_t q[256];
    float scale;
    long zp;
    int k;
    int n;
    int i;
    long npx;
    long nmean;
    int rc;
    t.conf_threshold = f32(next());
    t.margin_threshold = f32(next());
    t.complexity_limit = f32(next());
    scale = f32(next());
    zp = strtol(next(), NULL, 10);
    k = atoi(next());
    n = atoi(next());
    for (i = 0; i < n && i < 256; i++) {
        q[i] = (int8_t)atoi(next());
    }
    npx = unhex(next(), bytes_a, MAX_BYTES);
    nmean = unhex(next(), bytes_b, MAX_BYTES);
    rc = ec_policy_init(&p, &t);
    if (rc == EC_OK && (npx < 0 || npx != nmean)) {
        rc = EC_ERR_ARG;
    }
    if (rc == EC_OK) {
        rc = ec_policy_decide(&p, q, (size_t)n, scale, (int32_t)zp, (uint8_t)k, bytes_a, bytes_b,
                              (size_t)npx, &d);
    }
    if (rc != EC_OK) {
        printf("err %s\n", ec_err_name(rc));
        return;
    }
    printf("ok %d", d.k);
    for (i = 0; i < d.k; i++) {
        printf(" %u", d.classes[i]);
    }
    for (i = 0; i < d.k; i++) {
        printf(" %u", d.confidences[i]);
    }
    printf(" %08lx %s\n", bits32(d.complexity), ec_reason_name(d.reason));
}

static void cmd_ring(void)
{
    static ec_ring_slot_t slots[1024];
    ec_ring_t r;
    long pool = strtol(next(), NULL, 10);
    long nslots = strtol(next(), NULL, 10);
    char *ops = next();
    char *op;
    char *save = NULL;
    uint16_t id = 0;
    uint16_t i;
    if (pool <= 0 || (size_t)pool > MAX_BYTES || nslots <= 0 || nslots > 1024 ||
        ec_ring_init(&r, bytes_a, (size_t)pool, slots, (uint16_t)nslots) != EC_OK) {
        printf("err arg\n");
        return;
    }
    for (op = tok_r(ops, ",", &save); op != NULL; op = tok_r(NULL, ",", &save)) {
        if (op[0] == 'p') {
            size_t len = (size_t)strtoul(op + 1, NULL, 10);
            int frame = op[strlen(op) - 1] == 'f';
            int rc;
            id++;
            memset(bytes_b, 0, len < 2 ? 2 : len);
            bytes_b[0] = (uint8_t)(id >> 8);
            bytes_b[1] = (uint8_t)id;
            rc = ec_ring_push(&r, bytes_b, len < 2 ? 2 : len, frame != 0);
            printf("%s ", ec_err_name(rc));
        } else {
            const uint8_t *data;
            size_t len;
            if (ec_ring_peek(&r, &data, &len, NULL) == EC_OK) {
                printf("%u ", (unsigned)((data[0] << 8) | data[1]));
                ec_ring_pop(&r);
            } else {
                printf("E ");
            }
        }
    }
    printf("|");
    {
        size_t off = 0;
        for (i = 0; i < r.count; i++) {
            printf(" %u", (unsigned)((r.pool[off] << 8) | r.pool[off + 1]));
            off += r.slots[i].len;
        }
    }
    printf(" | %lu %lu %lu\n", (unsigned long)r.stats.dropped_plain,
           (unsigned long)r.stats.dropped_frame, (unsigned long)r.stats.oversize);
}

static void cmd_encode(void)
{
    long n = unhex(next(), bytes_a, MAX_BYTES / 2);
    size_t len = 0;
    int rc = n < 0 ? EC_ERR_ARG : ec_framing_encode(bytes_a, (size_t)n, out, sizeof out, &len);
    if (rc != EC_OK) {
        printf("err %s\n", ec_err_name(rc));
        return;
    }
    print_hex(out, len);
    printf("\n");
}

static void cmd_deframe(void)
{
    ec_deframer_t d;
    long cap = strtol(next(), NULL, 10);
    long n = unhex(next(), bytes_a, MAX_BYTES);
    long i;
    int frames = 0;
    if (cap <= 0 || (size_t)cap > MAX_BYTES || n < 0 ||
        ec_deframer_init(&d, bytes_b, (size_t)cap) != EC_OK) {
        printf("err arg\n");
        return;
    }
    for (i = 0; i < n; i++) {
        const uint8_t *payload;
        size_t len;
        if (ec_deframer_feed(&d, bytes_a[i], &payload, &len) == 1) {
            printf(frames++ ? "," : "");
            print_hex(payload, len);
        }
    }
    printf("%s %lu %lu %lu %lu %lu\n", frames ? "" : "-", (unsigned long)d.stats.frames_ok,
           (unsigned long)d.stats.bad_cobs, (unsigned long)d.stats.bad_crc,
           (unsigned long)d.stats.too_long, (unsigned long)d.stats.too_short);
}

static void cmd_config(void)
{
    ec_config_t c;
    int bad = 0;
    long n = unhex(next(), bytes_a, MAX_BYTES);
    int rc = n < 0 ? EC_ERR_ARG : ec_config_decode(bytes_a, (size_t)n, &c, &bad);
    if (rc != EC_OK) {
        printf("err %s %d\n", ec_err_name(rc), bad);
        return;
    }
    printf("ok %lu %08lx %08lx %08lx %d %lu\n", (unsigned long)c.revision,
           bits32(c.conf_threshold), bits32(c.margin_threshold), bits32(c.complexity_limit),
           c.has_epoch ? 1 : 0, (unsigned long)c.epoch);
}

static void cmd_audit(void)
{
    const char *id = next();
    uint32_t epoch = (uint32_t)strtoul(next(), NULL, 10);
    uint32_t seq = (uint32_t)strtoul(next(), NULL, 10);
    uint16_t share = (uint16_t)strtoul(next(), NULL, 10);
    printf("%d\n", ec_audit_pick(strcmp(id, "-") == 0 ? "" : id, epoch, seq, share) ? 1 : 0);
}

static void cmd_config_audit(void)
{
    ec_config_t c;
    ec_session_t session;
    ec_decision_t d;
    int bad = 0;
    long n = unhex(next(), bytes_a, MAX_BYTES);
    int reason = atoi(next());
    const char *id = next();
    int rc = n < 0 ? EC_ERR_ARG : ec_config_decode(bytes_a, (size_t)n, &c, &bad);
    if (rc == EC_OK) {
        memset(&session, 0, sizeof session);
        rc = ec_session_apply_config(&session, &c);
        bad = -1;
    }
    if (rc < 0) {
        printf("err %s %d\n", ec_err_name(rc), bad);
        return;
    }
    memset(&d, 0, sizeof d);
    d.reason = (ec_reason_t)reason;
    d.attach = d.reason != EC_REASON_CONFIDENT;
    ec_policy_audit(&session.policy, id, session.epoch, session.seq, &d);
    printf("ok %u %s %d\n", (unsigned)session.policy.audit_share, ec_reason_name(d.reason),
           d.attach ? 1 : 0);
}

static void cmd_manifest(void)
{
    ec_manifest_t m;
    int bad = 0;
    long n = unhex(next(), bytes_a, MAX_BYTES);
    const char *device = next();
    int rc = n < 0 ? EC_ERR_ARG : ec_manifest_decode(bytes_a, (size_t)n, device, &m, &bad);
    size_t i;
    if (rc != EC_OK) {
        printf("err %s %d\n", ec_err_name(rc), bad);
        return;
    }
    printf("ok ");
    for (i = 0; m.model_id[i] != '\0'; i++) { /* hex: an id may hold any character */
        printf("%02x", (unsigned char)m.model_id[i]);
    }
    printf(" %lu %s ", (unsigned long)m.version, m.tier);
    for (i = 0; i < sizeof m.sha256; i++) {
        printf("%02x", m.sha256[i]);
    }
    printf(" %lu %lu %lu %08lx %08lx %08lx %d\n", (unsigned long)m.size,
           (unsigned long)m.arena_bytes, (unsigned long)m.chunk_bytes,
           bits32(m.conf_threshold), bits32(m.margin_threshold), bits32(m.complexity_limit),
           m.targets_me ? 1 : 0);
}

static void cmd_chunk(void)
{
    ec_chunk_t c;
    int bad = 0;
    long n = unhex(next(), bytes_a, MAX_BYTES);
    int rc = n < 0 ? EC_ERR_ARG : ec_chunk_decode(bytes_a, (size_t)n, &c, &bad);
    uint32_t i;
    if (rc != EC_OK) {
        printf("err %s %d\n", ec_err_name(rc), bad);
        return;
    }
    printf("ok ");
    for (i = 0; c.model_id[i] != '\0'; i++) {
        printf("%02x", (unsigned char)c.model_id[i]);
    }
    printf(" %lu %u %lu ", (unsigned long)c.version, (unsigned)c.index, (unsigned long)c.offset);
    for (i = 0; i < c.len; i++) {
        printf("%02x", c.data[i]);
    }
    printf("\n");
}

static uint8_t ota_ram[2][EC_MAX_MODEL_BYTES];

static int ram_erase(void *ctx, int slot, uint32_t size)
{
    (void)ctx;
    (void)size;
    memset(ota_ram[slot], 0, sizeof ota_ram[slot]);
    return 0;
}

static int ram_write(void *ctx, int slot, uint32_t off, const uint8_t *d, size_t n)
{
    (void)ctx;
    memcpy(ota_ram[slot] + off, d, n);
    return 0;
}

static int ram_read(void *ctx, int slot, uint32_t off, uint8_t *d, size_t n)
{
    (void)ctx;
    memcpy(d, ota_ram[slot] + off, n);
    return 0;
}

static void cmd_ota(void)
{
    static const ec_ota_slots_t slots = {ram_erase, ram_write, ram_read, NULL};
    ec_manifest_t m;
    ec_ota_t ota;
    ec_ota_record_t rec = {0, false, 0};
    ec_ota_reason_t why = EC_OTA_OK;
    long n = unhex(next(), bytes_a, MAX_BYTES);
    const char *device = next();
    const char *model = next();
    unsigned long running = strtoul(next(), NULL, 10);
    unsigned long arena = strtoul(next(), NULL, 10);
    unsigned long slot_bytes = strtoul(next(), NULL, 10);
    char *chunks = next();
    char *save = NULL;
    char *t;
    ec_ota_verdict_t v;
    if (n < 0 || ec_manifest_decode(bytes_a, (size_t)n, device, &m, NULL) != EC_OK) {
        printf("err\n");
        return;
    }
    v = ec_ota_admit(&m, model, (uint32_t)running, (uint32_t)arena, (uint32_t)slot_bytes, &why);
    if (v != EC_OTA_START) {
        printf("%s\n", v == EC_OTA_IGNORE ? "ignore" : ec_ota_reason_name(why));
        return;
    }
    printf("start");
    if (ec_ota_begin(&ota, &m, &rec, &slots) != EC_OK) {
        printf(" err\n");
        return;
    }
    for (t = tok_r(chunks, ",", &save); t != NULL && strcmp(t, "-") != 0;
         t = tok_r(NULL, ",", &save)) {
        ec_chunk_t c;
        long k = unhex(t, bytes_b, MAX_BYTES);
        int rc = k < 0 ? EC_ERR_ARG : ec_chunk_decode(bytes_b, (size_t)k, &c, NULL);
        if (rc == EC_OK) {
            rc = ec_ota_chunk(&ota, &c, &slots);
        }
        printf(" %s", rc == EC_OTA_CHUNK_STORED ? "stored"
                      : rc == EC_OTA_CHUNK_DUPLICATE ? "duplicate"
                      : rc == EC_ERR_RANGE ? "bad_chunk" : "err");
    }
    printf(" complete %d", ec_ota_complete(&ota) ? 1 : 0);
    if (ec_ota_complete(&ota)) {
        why = ec_ota_install(&ota, &slots, NULL, NULL, &rec);
        printf(" verified %d", why == EC_OTA_OK ? 1 : 0);
    }
    printf("\n");
}

static int csv_u16(char *s, uint16_t *dst, int max)
{
    int n = 0;
    char *save = NULL;
    char *t;
    for (t = tok_r(s, ",", &save); t != NULL && n < max; t = tok_r(NULL, ",", &save)) {
        dst[n++] = (uint16_t)strtoul(t, NULL, 10);
    }
    return n;
}

static void cmd_report(void)
{
    ec_report_t r;
    ec_frame_t f;
    char *classes;
    char *confs;
    char *tok;
    size_t len = 0;
    int rc;
    memset(&r, 0, sizeof r);
    r.device_id = next();
    r.epoch = (uint32_t)strtoul(next(), NULL, 10);
    r.seq = (uint32_t)strtoul(next(), NULL, 10);
    r.ts_ms = (uint64_t)strtoull(next(), NULL, 10);
    r.model_id = next();
    r.model_version = (uint32_t)strtoul(next(), NULL, 10);
    classes = next();
    confs = next();
    tok = next();
    if (strcmp(tok, "-") != 0) {
        r.has_complexity = true;
        r.complexity = f32(tok);
    }
    tok = next();
    if (strcmp(tok, "-") != 0) {
        r.has_deadline = true;
        r.deadline_ms = (uint32_t)strtoul(tok, NULL, 10);
    }
    tok = next();
    if (strcmp(tok, "-") != 0) {
        r.has_priority = true;
        r.priority = (uint8_t)strtoul(tok, NULL, 10);
    }
    r.is_private = atoi(next()) != 0;
    tok = next();
    if (strcmp(tok, "-") != 0) {
        char *save = NULL;
        char *dtype = tok_r(tok, ":", &save);
        char *scale = tok_r(NULL, ":", &save);
        char *zp = tok_r(NULL, ":", &save);
        char *shape = tok_r(NULL, ":", &save);
        char *data = tok_r(NULL, ":", &save);
        long n;
        memset(&f, 0, sizeof f);
        f.dtype = strcmp(dtype, "int8") == 0 ? EC_DTYPE_INT8 : EC_DTYPE_UINT8;
        f.scale = f32(scale);
        f.zero_point = (int16_t)atoi(zp);
        f.ndims = (uint8_t)csv_u16(shape, f.shape, EC_MAX_FRAME_DIMS);
        n = unhex(data != NULL ? data : "-", bytes_a, MAX_BYTES);
        f.data = bytes_a;
        f.len = n < 0 ? 0 : (uint32_t)n;
        r.frame = &f;
    }
    {
        uint16_t tmp[EC_MAX_TOPK + 1];
        int nc = csv_u16(classes, tmp, EC_MAX_TOPK + 1);
        memcpy(r.classes, tmp, sizeof r.classes);
        r.k = (uint8_t)nc;
        nc = csv_u16(confs, tmp, EC_MAX_TOPK + 1);
        memcpy(r.confidences, tmp, sizeof r.confidences);
        if (nc != r.k) {
            r.k = 0; /* mismatch: invalid */
        }
    }
    rc = ec_report_encode(&r, out, sizeof out, &len);
    if (rc != EC_OK) {
        printf("err %s\n", ec_err_name(rc));
        return;
    }
    print_hex(out, len);
    printf("\n");
}

static void cmd_quantize(void)
{
    float scale = f32(next());
    long zp = strtol(next(), NULL, 10);
    long n = unhex(next(), bytes_a, MAX_BYTES);
    int rc = n < 0 ? EC_ERR_ARG
                   : ec_quantize_pixels(bytes_a, (size_t)n, scale, (int32_t)zp, (int8_t *)out);
    if (rc != EC_OK) {
        printf("err %s\n", ec_err_name(rc));
        return;
    }
    print_hex(out, (size_t)n);
    printf("\n");
}

static void cmd_complexity_q(void)
{
    long n = unhex(next(), bytes_a, MAX_BYTES);
    long m = unhex(next(), bytes_b, MAX_BYTES);
    if (n < 0 || m != n) {
        printf("err %s\n", ec_err_name(EC_ERR_ARG));
        return;
    }
    printf("%08lx\n", bits32(ec_complexity_q((const int8_t *)bytes_a,
                                              (const int8_t *)bytes_b, (size_t)n)));
}

static ec_settings_t prov_settings;
static ec_provision_t prov;

static void cmd_prov_reset(void)
{
    host_platform_reset();
    host_storage_fails = atoi(next()) != 0;
    memset(&prov_settings, 0, sizeof prov_settings);
    ec_provision_init(&prov, &prov_settings, "0.1.0");
    printf("ok\n");
}

static void cmd_prov(void)
{
    char answer[EC_LINE_MAX + 2];
    uint64_t now = (uint64_t)strtoull(next(), NULL, 10);
    long n = unhex(next(), bytes_a, MAX_BYTES);
    long i;
    int answers = 0;
    if (prov.settings == NULL || n < 0) {
        printf("err arg\n");
        return;
    }
    for (i = 0; i < n; i++) {
        int len = ec_provision_feed(&prov, bytes_a[i], now, answer, sizeof answer);
        if (len > 0) {
            printf(answers++ ? "," : "");
            print_hex((const uint8_t *)answer, (size_t)len);
        }
    }
    printf("%s p%d\n", answers ? "" : "-", ec_provision_paused(&prov, now) ? 1 : 0);
}

static uint32_t rng_state;

static uint32_t rnd(void)
{
    /* xorshift32: reproducible from the seed, no libc rand() state */
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static void cmd_fuzz(void)
{
    static const uint8_t tokens[] = {0x80, 0x85, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1,
                                     0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xca, 0xcb, 0xcc,
                                     0xcf, 0xd0, 0xd3, 0xd4, 0xd8, 0xd9, 0xdc, 0xdd, 0xde,
                                     0xdf, 0xff, 0x00, 0x01, 0x7f, 0x0a, 0x20, 0x45, 0x43};
    ec_deframer_t d;
    ec_settings_t settings;
    ec_provision_t p;
    char answer[EC_LINE_MAX + 2];
    unsigned long seed = strtoul(next(), NULL, 10);
    long n = strtol(next(), NULL, 10);
    long i;
    unsigned long accepted = 0;
    unsigned long answered = 0;
    rng_state = (uint32_t)seed | 1u;
    ec_deframer_init(&d, bytes_b, 64);
    memset(&settings, 0, sizeof settings);
    ec_provision_init(&p, &settings, "0.1.0");
    for (i = 0; i < n; i++) {
        size_t len = rnd() % 200u;
        size_t j;
        uint8_t *buf = malloc(len > 0 ? len : 1); /* exact size: ASan sees any overread */
        ec_config_t c;
        ec_mp_reader_t r;
        for (j = 0; j < len; j++) {
            buf[j] = (rnd() & 1u) ? tokens[rnd() % sizeof tokens] : (uint8_t)rnd();
        }
        if (ec_config_decode(buf, len, &c, NULL) == EC_OK) {
            accepted++;
        }
        ec_mp_reader_init(&r, buf, len);
        while (r.pos < r.len && ec_mp_skip(&r) == EC_OK) {
        }
        for (j = 0; j < len; j++) {
            const uint8_t *payload;
            size_t plen;
            (void)ec_deframer_feed(&d, buf[j], &payload, &plen);
            if (ec_provision_feed(&p, buf[j], (uint64_t)i, answer, sizeof answer) > 0) {
                answered++;
            }
        }
        free(buf);
    }
    printf("ok %ld %lu %lu %lu\n", n, accepted, (unsigned long)d.stats.frames_ok, answered);
}

int main(void)
{
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *cmd = strtok(line, " \n");
        if (cmd == NULL) {
            continue;
        }
        if (strcmp(cmd, "policy") == 0) {
            cmd_policy();
        } else if (strcmp(cmd, "ring") == 0) {
            cmd_ring();
        } else if (strcmp(cmd, "encode") == 0) {
            cmd_encode();
        } else if (strcmp(cmd, "deframe") == 0) {
            cmd_deframe();
        } else if (strcmp(cmd, "config") == 0) {
            cmd_config();
        } else if (strcmp(cmd, "manifest") == 0) {
            cmd_manifest();
        } else if (strcmp(cmd, "chunk") == 0) {
            cmd_chunk();
        } else if (strcmp(cmd, "ota") == 0) {
            cmd_ota();
        } else if (strcmp(cmd, "report") == 0) {
            cmd_report();
        } else if (strcmp(cmd, "quantize") == 0) {
            cmd_quantize();
        } else if (strcmp(cmd, "complexity_q") == 0) {
            cmd_complexity_q();
        } else if (strcmp(cmd, "prov_reset") == 0) {
            cmd_prov_reset();
        } else if (strcmp(cmd, "prov") == 0) {
            cmd_prov();
        } else if (strcmp(cmd, "audit") == 0) {
            cmd_audit();
        } else if (strcmp(cmd, "config_audit") == 0) {
            cmd_config_audit();
        } else if (strcmp(cmd, "fuzz") == 0) {
            cmd_fuzz();
        } else {
            printf("err unknown_command\n");
        }
        fflush(stdout);
    }
    return 0;
}
