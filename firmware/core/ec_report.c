#include "ec_report.h"

#include <string.h>

#include "ec_msgpack.h"

int ec_id_valid(const char *s)
{
    size_t n = 0;
    if (s == NULL) {
        return 0;
    }
    for (; s[n] != '\0'; n++) {
        char c = s[n];
        int ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                 c == '_' || c == '-';
        if (!ok || n >= EC_MAX_ID_LENGTH) {
            return 0;
        }
    }
    return n > 0;
}

static size_t bounded_len(const char *s, size_t max)
{
    size_t n = 0;
    while (n <= max && s[n] != '\0') {
        n++;
    }
    return n;
}

static int frame_valid(const ec_frame_t *f)
{
    uint32_t product = 1;
    uint8_t i;
    if (f->ndims < 1 || f->ndims > EC_MAX_FRAME_DIMS || (f->data == NULL && f->len > 0)) {
        return 0;
    }
    for (i = 0; i < f->ndims; i++) {
        product *= f->shape[i];
        if (product > EC_MAX_PAYLOAD_BYTES) {
            return 0;
        }
    }
    if (product != f->len || !(f->scale >= 0.0f) || f->scale > 3.4028235e38f) {
        return 0;
    }
    return f->zero_point >= -128 && f->zero_point <= 255 &&
           (f->dtype == EC_DTYPE_UINT8 || f->dtype == EC_DTYPE_INT8);
}

static int report_valid(const ec_report_t *rep)
{
    uint8_t i;
    size_t model_len;
    if (!ec_id_valid(rep->device_id) || rep->model_id == NULL) {
        return 0;
    }
    model_len = bounded_len(rep->model_id, EC_MAX_ID_LENGTH);
    if (model_len < 1 || model_len > EC_MAX_ID_LENGTH) {
        return 0;
    }
    if (rep->k < 1 || rep->k > EC_MAX_TOPK) {
        return 0;
    }
    for (i = 1; i < rep->k; i++) {
        if (rep->confidences[i - 1] < rep->confidences[i]) {
            return 0;
        }
    }
    if (rep->has_complexity && !(rep->complexity >= 0.0f && rep->complexity <= 3.4028235e38f)) {
        return 0;
    }
    return rep->frame == NULL || frame_valid(rep->frame);
}

static void write_text(ec_mp_writer_t *w, const char *s)
{
    ec_mp_write_str(w, s, strlen(s));
}

static void write_frame(ec_mp_writer_t *w, const ec_frame_t *f)
{
    uint8_t i;
    ec_mp_write_map(w, 5);
    ec_mp_write_uint(w, 1);
    ec_mp_write_bin(w, f->data, f->len);
    ec_mp_write_uint(w, 2);
    ec_mp_write_array(w, f->ndims);
    for (i = 0; i < f->ndims; i++) {
        ec_mp_write_uint(w, f->shape[i]);
    }
    ec_mp_write_uint(w, 3);
    write_text(w, f->dtype == EC_DTYPE_INT8 ? "int8" : "uint8");
    ec_mp_write_uint(w, 4);
    ec_mp_write_float32(w, f->scale);
    ec_mp_write_uint(w, 5);
    ec_mp_write_int(w, f->zero_point);
}

static int finish(const ec_mp_writer_t *w, size_t *out_len)
{
    if (w->err != EC_OK) {
        return w->err;
    }
    if (w->len > EC_MAX_PAYLOAD_BYTES) {
        return EC_ERR_TOO_BIG;
    }
    if (out_len != NULL) {
        *out_len = w->len;
    }
    return EC_OK;
}

int ec_report_encode(const ec_report_t *rep, uint8_t *buf, size_t cap, size_t *out_len)
{
    ec_mp_writer_t w;
    uint32_t fields = 9; /* schema + 8 required */
    uint8_t i;
    if (rep == NULL || buf == NULL || !report_valid(rep)) {
        return EC_ERR_ARG;
    }
    fields += (uint32_t)((rep->frame != NULL) + rep->has_complexity + rep->has_deadline +
                         rep->has_priority + rep->is_private);
    ec_mp_writer_init(&w, buf, cap);
    ec_mp_write_map(&w, fields);
    ec_mp_write_uint(&w, 0);
    ec_mp_write_uint(&w, EC_SCHEMA_VERSION);
    ec_mp_write_uint(&w, 1);
    write_text(&w, rep->device_id);
    ec_mp_write_uint(&w, 2);
    ec_mp_write_uint(&w, rep->epoch);
    ec_mp_write_uint(&w, 3);
    ec_mp_write_uint(&w, rep->seq);
    ec_mp_write_uint(&w, 4);
    ec_mp_write_uint(&w, rep->ts_ms);
    ec_mp_write_uint(&w, 5);
    write_text(&w, rep->model_id);
    ec_mp_write_uint(&w, 6);
    ec_mp_write_uint(&w, rep->model_version);
    ec_mp_write_uint(&w, 7);
    ec_mp_write_array(&w, rep->k);
    for (i = 0; i < rep->k; i++) {
        ec_mp_write_uint(&w, rep->classes[i]);
    }
    ec_mp_write_uint(&w, 8);
    ec_mp_write_array(&w, rep->k);
    for (i = 0; i < rep->k; i++) {
        ec_mp_write_uint(&w, rep->confidences[i]);
    }
    if (rep->frame != NULL) {
        ec_mp_write_uint(&w, 9);
        write_frame(&w, rep->frame);
    }
    if (rep->has_complexity) {
        ec_mp_write_uint(&w, 10);
        ec_mp_write_float32(&w, rep->complexity);
    }
    if (rep->has_deadline) {
        ec_mp_write_uint(&w, 11);
        ec_mp_write_uint(&w, rep->deadline_ms);
    }
    if (rep->has_priority) {
        ec_mp_write_uint(&w, 12);
        ec_mp_write_uint(&w, rep->priority);
    }
    if (rep->is_private) {
        ec_mp_write_uint(&w, 13);
        ec_mp_write_bool(&w, true);
    }
    return finish(&w, out_len);
}

int ec_state_encode(const ec_state_t *st, uint8_t *buf, size_t cap, size_t *out_len)
{
    ec_mp_writer_t w;
    uint32_t fields = 4; /* schema + 3 required */
    if (st == NULL || buf == NULL || !ec_id_valid(st->device_id)) {
        return EC_ERR_ARG;
    }
    if (st->model_id != NULL) {
        size_t n = bounded_len(st->model_id, EC_MAX_ID_LENGTH);
        if (n < 1 || n > EC_MAX_ID_LENGTH) {
            return EC_ERR_ARG;
        }
    }
    if (st->fw_version != NULL) {
        size_t n = bounded_len(st->fw_version, EC_MAX_VERSION_LENGTH);
        if (n < 1 || n > EC_MAX_VERSION_LENGTH) {
            return EC_ERR_ARG;
        }
    }
    fields += (uint32_t)(st->has_epoch + (st->model_id != NULL) + st->has_model_version +
                         (st->fw_version != NULL) + st->has_dropped);
    ec_mp_writer_init(&w, buf, cap);
    ec_mp_write_map(&w, fields);
    ec_mp_write_uint(&w, 0);
    ec_mp_write_uint(&w, EC_SCHEMA_VERSION);
    ec_mp_write_uint(&w, 1);
    write_text(&w, st->device_id);
    ec_mp_write_uint(&w, 2);
    ec_mp_write_bool(&w, st->online);
    ec_mp_write_uint(&w, 3);
    ec_mp_write_uint(&w, st->ts_ms);
    if (st->has_epoch) {
        ec_mp_write_uint(&w, 4);
        ec_mp_write_uint(&w, st->epoch);
    }
    if (st->model_id != NULL) {
        ec_mp_write_uint(&w, 5);
        write_text(&w, st->model_id);
    }
    if (st->has_model_version) {
        ec_mp_write_uint(&w, 6);
        ec_mp_write_uint(&w, st->model_version);
    }
    if (st->fw_version != NULL) {
        ec_mp_write_uint(&w, 7);
        write_text(&w, st->fw_version);
    }
    if (st->has_dropped) {
        ec_mp_write_uint(&w, 8);
        ec_mp_write_uint(&w, st->dropped);
    }
    return finish(&w, out_len);
}
