/* Frame provider on Espressif's esp32-camera (OV2640 and kin): one frame at the smallest
 * useful size (QQVGA 160x120 by default), grayscale or RGB565, frame buffers in PSRAM;
 * the core's preprocessing (ec_preprocess.h) crops, resizes, inverts and quantizes it
 * exactly as the Python twin does. Pins per board: Kconfig.projbuild. */
#include "frame_provider.h"

#include "ec_preprocess.h"
#include "ec_settings.h"
#include "esp_camera.h"
#include "esp_heap_caps.h"
#include "esp_log.h"

#ifndef EC_PRE_Q_MULT
#error "the camera frame source needs an image model (EC_PRE_Q_MULT in ec_settings.h)"
#endif

#ifndef EC_INPUT_HEIGHT /* a header `edgecascade models import` wrote: (H, W, C) dims */
#define EC_INPUT_HEIGHT EC_INPUT_DIM0
#define EC_INPUT_WIDTH EC_INPUT_DIM1
#define EC_INPUT_CHANNELS EC_INPUT_DIM2
#endif

static const char *TAG = "ec_camera";
#ifndef EC_INPUT_PIXELS
/* the gray image, which an app built on such a header does not take (its complexity
 * signal is on the int8 input) */
static uint8_t s_gray[EC_INPUT_HEIGHT * EC_INPUT_WIDTH];
#endif

#if defined(CONFIG_EC_CAMERA_FRAME_96X96)
#define CAMERA_FRAME_SIZE FRAMESIZE_96X96
#elif defined(CONFIG_EC_CAMERA_FRAME_QVGA)
#define CAMERA_FRAME_SIZE FRAMESIZE_QVGA
#else
#define CAMERA_FRAME_SIZE FRAMESIZE_QQVGA
#endif

#ifdef CONFIG_EC_CAMERA_RGB565
#define CAMERA_PIXFORMAT PIXFORMAT_RGB565
#else
#define CAMERA_PIXFORMAT PIXFORMAT_GRAYSCALE
#endif

static uint32_t s_failed; /* frames the camera did not give, or gave in another format */

int frame_provider_init(void)
{
    camera_config_t cfg = {
        .pin_pwdn = CONFIG_EC_CAM_PIN_PWDN,
        .pin_reset = CONFIG_EC_CAM_PIN_RESET,
        .pin_xclk = CONFIG_EC_CAM_PIN_XCLK,
        .pin_sccb_sda = CONFIG_EC_CAM_PIN_SIOD,
        .pin_sccb_scl = CONFIG_EC_CAM_PIN_SIOC,
        .pin_d7 = CONFIG_EC_CAM_PIN_D7,
        .pin_d6 = CONFIG_EC_CAM_PIN_D6,
        .pin_d5 = CONFIG_EC_CAM_PIN_D5,
        .pin_d4 = CONFIG_EC_CAM_PIN_D4,
        .pin_d3 = CONFIG_EC_CAM_PIN_D3,
        .pin_d2 = CONFIG_EC_CAM_PIN_D2,
        .pin_d1 = CONFIG_EC_CAM_PIN_D1,
        .pin_d0 = CONFIG_EC_CAM_PIN_D0,
        .pin_vsync = CONFIG_EC_CAM_PIN_VSYNC,
        .pin_href = CONFIG_EC_CAM_PIN_HREF,
        .pin_pclk = CONFIG_EC_CAM_PIN_PCLK,
        .xclk_freq_hz = CONFIG_EC_CAMERA_XCLK_HZ,
        .ledc_timer = LEDC_TIMER_0,
        .ledc_channel = LEDC_CHANNEL_0,
        .pixel_format = CAMERA_PIXFORMAT,
        .frame_size = CAMERA_FRAME_SIZE,
        .jpeg_quality = 12, /* unused: not JPEG */
        .fb_count = 2,      /* with GRAB_LATEST: the frame is fresh, not a second old */
        .fb_location = CAMERA_FB_IN_PSRAM,
        .grab_mode = CAMERA_GRAB_LATEST,
    };
    esp_err_t err;
    if (heap_caps_get_total_size(MALLOC_CAP_SPIRAM) == 0) {
        /* no PSRAM (or not enabled in menuconfig): one buffer in internal RAM */
        ESP_LOGW(TAG, "no PSRAM: one frame buffer in internal RAM");
        cfg.fb_location = CAMERA_FB_IN_DRAM;
        cfg.fb_count = 1;
        cfg.grab_mode = CAMERA_GRAB_WHEN_EMPTY;
    }
    err = esp_camera_init(&cfg);
    if (err != ESP_OK) {
        ESP_LOGE(TAG, "camera init failed: %s (check the board's pins in menuconfig)",
                 esp_err_to_name(err));
        return -1;
    }
    return 0;
}

const char *frame_provider_name(void)
{
    return "camera";
}

int frame_provider_next(int8_t *input, uint8_t *pixels, size_t n, int *label)
{
    camera_fb_t *fb;
    ec_pixfmt_t fmt;
    ec_rect_t crop;
    pixformat_t format;
    size_t width;
    size_t height;
    size_t len;
    int rc;
    *label = -1;
    if (n != (size_t)EC_INPUT_HEIGHT * EC_INPUT_WIDTH * EC_INPUT_CHANNELS ||
        EC_INPUT_CHANNELS != 1) {
        return -1;
    }
#ifndef EC_INPUT_PIXELS
    if (pixels == NULL) {
        pixels = s_gray;
    }
#endif
    if (pixels == NULL) {
        return -1;
    }
    fb = esp_camera_fb_get();
    if (fb == NULL) {
        s_failed++;
        ESP_LOGW(TAG, "no frame from the camera (%u so far)", (unsigned)s_failed);
        return -1;
    }
    format = fb->format;
    width = fb->width;
    height = fb->height;
    len = fb->len;
    fmt = format == PIXFORMAT_GRAYSCALE ? EC_PIX_GRAY8 : EC_PIX_RGB565_BE;
    rc = (format == PIXFORMAT_GRAYSCALE || format == PIXFORMAT_RGB565) &&
                 width <= UINT16_MAX && height <= UINT16_MAX
             ? ec_pre_center_crop((uint16_t)width, (uint16_t)height, EC_INPUT_WIDTH,
                                  EC_INPUT_HEIGHT, &crop)
             : -1;
    if (rc == 0) { /* straight from the frame buffer: no copy of the frame */
        rc = ec_pre_image(fb->buf, len, fmt, (uint16_t)width, (uint16_t)height, &crop,
                          EC_INPUT_WIDTH, EC_INPUT_HEIGHT, EC_PRE_INVERT, pixels);
    }
    esp_camera_fb_return(fb);
    if (rc != 0) {
        s_failed++;
        ESP_LOGW(TAG, "frame not usable (format %d, %ux%u, %u bytes)", (int)format,
                 (unsigned)width, (unsigned)height, (unsigned)len);
        return -1;
    }
    return ec_pre_quantize_u8(pixels, n, EC_PRE_Q_MULT, EC_PRE_SHIFT, EC_INPUT_ZERO_POINT,
                              input);
}
