/* The ESP32 frame providers on the host: frame_provider_camera.c against a fake
 * esp32-camera (serves one recorded frame), frame_provider_imu.c against a fake MPU-6050
 * behind a fake i2c_master bus (a register file and a 1024-byte FIFO filled from a
 * recording at the rate the registers set, as virtual time passes in vTaskDelay).
 * Fakes at seams this project owns, named as such. Built twice (-DHOST_CAMERA,
 * -DHOST_IMU); tests/firmware/test_providers_host.py drives them:
 *
 *   camera_host FRAME.bin W H FMT PSRAM_BYTES N   (FMT 0 gray, 1 rgb565)
 *       -> "config ..." then N x "frame PIXHEX QHEX", then "returns GETS RETURNS"
 *   imu_host COUNTS.bin GAP_MS N   (COUNTS: int16 LE, rows of 6, the recording)
 *       -> "config ..." then N x "window QHEX end R label L" (R: the recording's row
 *          after the window's last), sleeping GAP_MS of virtual time between windows
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec_settings.h"
#include "esp_err.h"
#include "frame_provider.h"
#include "freertos/FreeRTOS.h"
#include "freertos/task.h"

const char *esp_err_to_name(esp_err_t code)
{
    return code == ESP_OK ? "ESP_OK" : "ESP_FAIL";
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    rewind(f);
    buf = malloc((size_t)n + 1u);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        exit(2);
    }
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static void put_hex(const void *data, size_t n)
{
    const uint8_t *b = data;
    size_t i;
    for (i = 0; i < n; i++) {
        printf("%02x", b[i]);
    }
}

#ifdef HOST_CAMERA
#include "esp_camera.h"
#include "esp_heap_caps.h"

static camera_fb_t s_fb;
static size_t s_psram;
static unsigned s_gets;
static unsigned s_returns;

size_t heap_caps_get_total_size(uint32_t caps)
{
    return caps & MALLOC_CAP_SPIRAM ? s_psram : 0u;
}

esp_err_t esp_camera_init(const camera_config_t *c)
{
    printf("config format %d size %d fb_count %u fb_location %d grab %d xclk %d pins %d %d %d "
           "%d %d %d %d %d %d %d %d %d %d %d %d %d\n",
           (int)c->pixel_format, (int)c->frame_size, (unsigned)c->fb_count,
           (int)c->fb_location, (int)c->grab_mode, c->xclk_freq_hz, c->pin_pwdn, c->pin_reset,
           c->pin_xclk, c->pin_sccb_sda, c->pin_sccb_scl, c->pin_d7, c->pin_d6, c->pin_d5,
           c->pin_d4, c->pin_d3, c->pin_d2, c->pin_d1, c->pin_d0, c->pin_vsync, c->pin_href,
           c->pin_pclk);
    return ESP_OK;
}

camera_fb_t *esp_camera_fb_get(void)
{
    s_gets++;
    return &s_fb;
}

void esp_camera_fb_return(camera_fb_t *fb)
{
    if (fb == &s_fb) {
        s_returns++;
    }
}

int main(int argc, char **argv)
{
    static int8_t input[EC_INPUT_PIXELS];
    static uint8_t pixels[EC_INPUT_PIXELS];
    int i;
    int n;
    if (argc != 7) {
        fprintf(stderr, "usage: camera_host FRAME W H FMT PSRAM N\n");
        return 2;
    }
    s_fb.buf = read_file(argv[1], &s_fb.len);
    s_fb.width = (size_t)atoi(argv[2]);
    s_fb.height = (size_t)atoi(argv[3]);
    s_fb.format = atoi(argv[4]) == 0 ? PIXFORMAT_GRAYSCALE : PIXFORMAT_RGB565;
    s_psram = (size_t)atol(argv[5]);
    n = atoi(argv[6]);
    if (frame_provider_init() != 0) {
        printf("init failed\n");
        return 1;
    }
    for (i = 0; i < n; i++) {
        int label = 7;
        int rc = frame_provider_next(input, pixels, sizeof input, &label);
        if (rc != 0) {
            printf("frame err %d label %d\n", rc, label);
            continue;
        }
        printf("frame ");
        put_hex(pixels, sizeof pixels);
        printf(" ");
        put_hex(input, sizeof input);
        printf(" label %d\n", label);
    }
    printf("returns %u %u\n", s_gets, s_returns);
    free(s_fb.buf);
    return 0;
}
#endif /* HOST_CAMERA */

#ifdef HOST_IMU
#include "driver/i2c_master.h"

/* ---------------------------------------------------------- fake MPU-6050 */
#define FIFO_CAP 1024u
static uint8_t s_reg[128];
static uint8_t s_fifo[FIFO_CAP];
static size_t s_fifo_len;
static int s_oflow;
static int s_silent; /* a chip that never raises FIFO_OFLOW_INT (argv[4] "silent") */
static const int16_t *s_rec; /* the recording: rows of 6 counts */
static size_t s_rec_rows;
static size_t s_next_row;         /* the next row the sensor samples */
static size_t s_fifo_first_byte;  /* the recording byte (row * 12) of the FIFO's first */
static uint64_t s_now_us;
static uint64_t s_next_sample_us;

static void sensor_reset(void)
{
    memset(s_reg, 0, sizeof s_reg);
    s_reg[0x6B] = 0x40; /* asleep after reset */
    s_reg[0x75] = 0x68;
    s_fifo_len = 0;
}

static int sampling(void)
{
    return (s_reg[0x6B] & 0x40) == 0 && s_reg[0x23] == 0x78 && (s_reg[0x6A] & 0x40) != 0;
}

static uint64_t period_us(void)
{
    unsigned gyro_hz = (s_reg[0x1A] & 7u) == 0 || (s_reg[0x1A] & 7u) == 7 ? 8000u : 1000u;
    return 1000000ull * (1u + s_reg[0x19]) / gyro_hz;
}

static void fifo_push_row(void)
{
    const int16_t *row = s_rec + (s_next_row % s_rec_rows) * 6u;
    int c;
    if (s_fifo_len + 12u > FIFO_CAP) { /* full: its oldest BYTES are lost (1024 % 12 != 0) */
        size_t drop = s_fifo_len + 12u - FIFO_CAP;
        memmove(s_fifo, s_fifo + drop, s_fifo_len - drop);
        s_fifo_len -= drop;
        s_fifo_first_byte += drop;
        /* INT_STATUS reports it when the interrupt is enabled (INT_ENABLE bit 4) */
        s_oflow = !s_silent && (s_reg[0x38] & 0x10u) != 0;
    }
    if (s_fifo_len == 0) {
        s_fifo_first_byte = s_next_row * 12u;
    }
    for (c = 0; c < 6; c++) { /* accel x y z, then gyro x y z: big-endian */
        s_fifo[s_fifo_len++] = (uint8_t)((uint16_t)row[c] >> 8);
        s_fifo[s_fifo_len++] = (uint8_t)((uint16_t)row[c] & 0xFFu);
    }
    s_next_row++;
}

static void advance(uint64_t us)
{
    uint64_t end = s_now_us + us;
    while (sampling() && s_next_sample_us <= end) {
        fifo_push_row();
        s_next_sample_us += period_us();
    }
    s_now_us = end;
    if (!sampling()) {
        s_next_sample_us = end + period_us();
    }
}

void vTaskDelay(TickType_t ticks)
{
    advance((uint64_t)ticks * 1000u); /* the stubs' pdMS_TO_TICKS: 1 tick = 1 ms */
}

/* ---------------------------------------------------------- fake i2c_master */
static struct i2c_master_bus_t {
    int sda, scl, port;
} s_bus;
static struct i2c_master_dev_t {
    unsigned addr;
} s_dev;

esp_err_t i2c_new_master_bus(const i2c_master_bus_config_t *cfg, i2c_master_bus_handle_t *bus)
{
    s_bus.sda = cfg->sda_io_num;
    s_bus.scl = cfg->scl_io_num;
    s_bus.port = cfg->i2c_port;
    *bus = &s_bus;
    return ESP_OK;
}

esp_err_t i2c_master_bus_add_device(i2c_master_bus_handle_t bus, const i2c_device_config_t *cfg,
                                    i2c_master_dev_handle_t *dev)
{
    if (bus != &s_bus || cfg->device_address != 0x68) {
        return ESP_ERR_NOT_FOUND;
    }
    s_dev.addr = cfg->device_address;
    *dev = &s_dev;
    return ESP_OK;
}

esp_err_t i2c_master_transmit(i2c_master_dev_handle_t dev, const uint8_t *buf, size_t len,
                              int timeout_ms)
{
    (void)timeout_ms;
    if (dev != &s_dev || len != 2u) {
        return ESP_ERR_INVALID_ARG;
    }
    if (buf[0] == 0x6B && (buf[1] & 0x80u)) {
        sensor_reset();
        return ESP_OK;
    }
    if (buf[0] == 0x6A && (buf[1] & 0x04u)) {
        s_fifo_len = 0; /* FIFO reset (the bit clears itself) */
        s_reg[0x6A] = (uint8_t)(buf[1] & ~0x04u);
        s_next_sample_us = s_now_us + period_us();
        return ESP_OK;
    }
    s_reg[buf[0] & 0x7Fu] = buf[1];
    if (buf[0] == 0x6A) {
        s_next_sample_us = s_now_us + period_us();
    }
    return ESP_OK;
}

esp_err_t i2c_master_transmit_receive(i2c_master_dev_handle_t dev, const uint8_t *wbuf,
                                      size_t wlen, uint8_t *rbuf, size_t rlen, int timeout_ms)
{
    (void)timeout_ms;
    if (dev != &s_dev || wlen != 1u) {
        return ESP_ERR_INVALID_ARG;
    }
    advance(200); /* a transfer takes time too */
    if (wbuf[0] == 0x72 && rlen == 2u) {
        rbuf[0] = (uint8_t)(s_fifo_len >> 8);
        rbuf[1] = (uint8_t)(s_fifo_len & 0xFFu);
    } else if (wbuf[0] == 0x74) {
        size_t n = rlen > s_fifo_len ? s_fifo_len : rlen;
        memcpy(rbuf, s_fifo, n);
        memset(rbuf + n, 0, rlen - n);
        memmove(s_fifo, s_fifo + n, s_fifo_len - n);
        s_fifo_len -= n;
        s_fifo_first_byte += n;
    } else if (wbuf[0] == 0x3A && rlen == 1u) {
        rbuf[0] = s_oflow ? 0x10 : 0x00;
        s_oflow = 0; /* cleared on read */
    } else if (rlen == 1u) {
        rbuf[0] = s_reg[wbuf[0] & 0x7Fu];
    } else {
        return ESP_ERR_INVALID_ARG;
    }
    return ESP_OK;
}

int main(int argc, char **argv)
{
    static int8_t input[EC_PRE_IMU_STEPS * EC_PRE_IMU_CHANNELS];
    size_t len;
    int i;
    int n;
    uint8_t *rec;
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: imu_host COUNTS.bin GAP_MS N [silent]\n");
        return 2;
    }
    s_silent = argc == 5 && strcmp(argv[4], "silent") == 0;
    rec = read_file(argv[1], &len);
    s_rec = (const int16_t *)(void *)rec; /* little-endian host, malloc-aligned */
    s_rec_rows = len / 12u;
    n = atoi(argv[3]);
    sensor_reset();
    if (s_rec_rows == 0 || frame_provider_init() != 0) {
        printf("init failed\n");
        return 1;
    }
    printf("config bus %d sda %d scl %d smplrt_div %u dlpf %u gyro_config 0x%02x "
           "accel_config 0x%02x fifo_en 0x%02x user_ctrl 0x%02x pwr 0x%02x "
           "int_enable 0x%02x\n",
           s_bus.port, s_bus.sda, s_bus.scl, s_reg[0x19], s_reg[0x1A] & 7u, s_reg[0x1B],
           s_reg[0x1C], s_reg[0x23], s_reg[0x6A], s_reg[0x6B], s_reg[0x38]);
    for (i = 0; i < n; i++) {
        int label = 7;
        if (i > 0) {
            vTaskDelay((TickType_t)atoi(argv[2])); /* the app's inference and report */
        }
        if (frame_provider_next(input, NULL, sizeof input, &label) != 0) {
            printf("window err\n");
            continue;
        }
        printf("window ");
        put_hex(input, sizeof input);
        printf(" end %u label %d\n", (unsigned)(s_fifo_first_byte / 12u), label);
    }
    free(rec);
    return 0;
}
#endif /* HOST_IMU */
