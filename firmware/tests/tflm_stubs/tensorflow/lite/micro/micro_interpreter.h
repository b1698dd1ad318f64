/* Stub: the TFLM interpreter API model_runner.cc uses (see ../../../README.md). */
#ifndef EC_STUB_TFLM_MICRO_INTERPRETER_H
#define EC_STUB_TFLM_MICRO_INTERPRETER_H

#include <cstddef>
#include <cstdint>

#include "tensorflow/lite/schema/schema_generated.h"

#define TFLITE_SCHEMA_VERSION (3)

typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef enum { kTfLiteNoType = 0, kTfLiteFloat32 = 1, kTfLiteUInt8 = 3, kTfLiteInt8 = 9 } TfLiteType;

typedef struct {
    int size;
    int data[];
} TfLiteIntArray;

typedef struct {
    float scale;
    int32_t zero_point;
} TfLiteQuantizationParams;

typedef union {
    int32_t *i32;
    float *f;
    uint8_t *uint8;
    int8_t *int8;
    void *data;
} TfLitePtrUnion;

typedef struct TfLiteTensor {
    TfLiteType type;
    TfLitePtrUnion data;
    TfLiteIntArray *dims;
    TfLiteQuantizationParams params;
    size_t bytes;
} TfLiteTensor;

namespace tflite {

class MicroOpResolver {
  public:
    virtual ~MicroOpResolver();
};
class MicroResourceVariables;
class MicroProfilerInterface;

class MicroInterpreter {
  public:
    MicroInterpreter(const Model *model, const MicroOpResolver &op_resolver,
                     uint8_t *tensor_arena, size_t tensor_arena_size,
                     MicroResourceVariables *resource_variables = nullptr,
                     MicroProfilerInterface *profiler = nullptr,
                     bool preserve_all_tensors = false);
    ~MicroInterpreter();
    TfLiteStatus AllocateTensors();
    TfLiteStatus Invoke();
    TfLiteTensor *input(size_t index);
    TfLiteTensor *output(size_t index);
    size_t arena_used_bytes() const;
};

}  // namespace tflite

#endif
