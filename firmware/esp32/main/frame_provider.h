/* frame_provider.h - where frames come from (the camera or sensor seam).
 * One implementation per source; this build links frame_provider_replay.c, which
 * replays frames stored in flash (replay_frames.h) so a board works without a camera. */
#ifndef FRAME_PROVIDER_H
#define FRAME_PROVIDER_H

#include <stddef.h>
#include <stdint.h>

/* Height, width of the frames this provider gives (uint8 grayscale). */
void frame_provider_dims(int *height, int *width);
/* Fill pixels[n] with the next frame; *label gets its ground truth when the source
 * knows it (replay), else -1. 0 on success, < 0 on failure. */
int frame_provider_next(uint8_t *pixels, size_t n, int *label);

#endif
