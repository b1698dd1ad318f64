/* pre_parity - drives core/ec_preprocess from stdin for tests/firmware's random parity
 * test with the Python twin (edgecascade.models.preprocess). One answer line each:
 *
 *   crop W H OW OH                              -> X Y W H | err CODE
 *   image FMT W H X Y CW CH OW OH INV MULT ZP HEX
 *       (FMT 0 gray8, 1 rgb565be, 2 rgb888)     -> PIXHEX QHEX | err CODE
 *   imu STEPS CHANNELS ZP MULTS HEX             (MULTS comma list; HEX int16 little-endian,
 *                                                steps x channels) -> QHEX | err CODE
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ec_preprocess.h"

#define MAX_LINE (1u << 21)
#define MAX_BYTES (1u << 20)

static char line[MAX_LINE];
static uint8_t src[MAX_BYTES];
static uint8_t pixels[1u << 16];
static int8_t q[1u << 16];
static int16_t samples[1u << 16];

static size_t unhex(const char *hex, uint8_t *dst, size_t cap)
{
    size_t n = strlen(hex) / 2u;
    size_t i;
    n = n > cap ? cap : n;
    for (i = 0; i < n; i++) {
        char two[3] = {hex[2 * i], hex[2 * i + 1], 0};
        dst[i] = (uint8_t)strtoul(two, NULL, 16);
    }
    return n;
}

static void put_hex(const void *data, size_t n)
{
    const uint8_t *b = data;
    size_t i;
    for (i = 0; i < n; i++) {
        printf("%02x", b[i]);
    }
    if (n == 0) {
        printf("-");
    }
}

int main(void)
{
    while (fgets(line, sizeof line, stdin) != NULL) {
        char *cmd = strtok(line, " \n");
        if (cmd == NULL) {
            continue;
        }
        if (strcmp(cmd, "crop") == 0) {
            ec_rect_t r;
            unsigned w = (unsigned)atoi(strtok(NULL, " \n"));
            unsigned h = (unsigned)atoi(strtok(NULL, " \n"));
            unsigned ow = (unsigned)atoi(strtok(NULL, " \n"));
            unsigned oh = (unsigned)atoi(strtok(NULL, " \n"));
            int rc = ec_pre_center_crop((uint16_t)w, (uint16_t)h, (uint16_t)ow, (uint16_t)oh, &r);
            if (rc != 0) {
                printf("err %d\n", rc);
            } else {
                printf("%u %u %u %u\n", r.x, r.y, r.w, r.h);
            }
        } else if (strcmp(cmd, "image") == 0) {
            int v[12];
            int i;
            ec_rect_t r;
            size_t n;
            int rc;
            for (i = 0; i < 12; i++) {
                v[i] = atoi(strtok(NULL, " \n"));
            }
            n = unhex(strtok(NULL, " \n"), src, sizeof src);
            r.x = (uint16_t)v[3];
            r.y = (uint16_t)v[4];
            r.w = (uint16_t)v[5];
            r.h = (uint16_t)v[6];
            rc = ec_pre_image(src, n, (ec_pixfmt_t)v[0], (uint16_t)v[1], (uint16_t)v[2], &r,
                              (uint16_t)v[7], (uint16_t)v[8], v[9], pixels);
            if (rc == 0) {
                rc = ec_pre_quantize_u8(pixels, (size_t)v[7] * (size_t)v[8], v[10],
                                        EC_PRE_SHIFT, v[11], q);
            }
            if (rc != 0) {
                printf("err %d\n", rc);
                continue;
            }
            put_hex(pixels, (size_t)v[7] * (size_t)v[8]);
            printf(" ");
            put_hex(q, (size_t)v[7] * (size_t)v[8]);
            printf("\n");
        } else if (strcmp(cmd, "imu") == 0) {
            size_t steps = (size_t)atoi(strtok(NULL, " \n"));
            size_t channels = (size_t)atoi(strtok(NULL, " \n"));
            int32_t zp = atoi(strtok(NULL, " \n"));
            int32_t mults[16];
            char *m = strtok(NULL, " \n");
            char *hex = strtok(NULL, " \n");
            size_t k = 0;
            size_t n;
            size_t i;
            int rc;
            for (char *tok = strtok(m, ","); tok != NULL && k < 16; tok = strtok(NULL, ",")) {
                mults[k++] = atoi(tok);
            }
            n = unhex(hex, src, sizeof src) / 2u;
            for (i = 0; i < n && i < sizeof samples / sizeof samples[0]; i++) {
                samples[i] = (int16_t)(uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
            }
            rc = k == channels && n == steps * channels
                     ? ec_pre_imu_window(samples, steps, channels, mults, EC_PRE_SHIFT, zp, q)
                     : -1;
            if (rc != 0) {
                printf("err %d\n", rc);
                continue;
            }
            put_hex(q, steps * channels);
            printf("\n");
        } else {
            printf("err unknown\n");
        }
        fflush(stdout);
    }
    return 0;
}
