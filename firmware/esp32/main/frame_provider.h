/* frame_provider.h - where frames come from (the camera or sensor seam).
 *
 * One implementation per source, chosen in menuconfig ("Frame source"):
 *   frame_provider_replay.c  frames stored in flash (replay_frames.h): no sensor needed
 *   frame_provider_camera.c  an esp32-camera sensor (OV2640 ...), frames in PSRAM
 *   frame_provider_imu.c     an MPU-6050 on I2C, windows at the training rate
 * Each turns its sensor's output into the model's int8 input with the portable core's
 * preprocessing (core/ec_preprocess.h, parameters from the generated ec_settings.h), so
 * the board computes exactly what the Python twin and the emulator compute. */
#ifndef FRAME_PROVIDER_H
#define FRAME_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

/* Start the source (sensor driver, buffers). 0, or < 0 with a log line. */
int frame_provider_init(void);
/* The next frame: input[n] gets the model's int8 input; for image sources pixels[n]
 * gets the uint8 gray image it was quantized from (the complexity signal's input), and
 * pixels may be NULL for other sources. *label gets the ground truth when the source
 * knows it (replay), else -1. 0 on success, < 0 on failure. */
int frame_provider_next(int8_t *input, uint8_t *pixels, size_t n, int *label);
/* A short name for logs ("replay", "camera", "imu"). */
const char *frame_provider_name(void);

/* Stored frame index % EC_REPLAY_COUNT (image models, whatever the source: the OTA
 * self-test's frames), preprocessed like any frame; *label its ground truth. */
int frame_replay_get(unsigned index, int8_t *input, uint8_t *pixels, size_t n, int *label);

#endif
