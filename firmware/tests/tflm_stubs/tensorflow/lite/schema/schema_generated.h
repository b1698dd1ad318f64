/* Stub: the part of TFLM's schema_generated.h model_runner.cc uses (see ../../../README.md). */
#ifndef EC_STUB_TFLM_SCHEMA_GENERATED_H
#define EC_STUB_TFLM_SCHEMA_GENERATED_H

#include <cstdint>

namespace tflite {

struct Model {
    uint32_t version() const;
};

const Model *GetModel(const void *buf);

}  // namespace tflite

#endif
