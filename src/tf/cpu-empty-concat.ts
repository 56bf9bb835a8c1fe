/**
 * tfjs-backend-cpu 4.22's Concat stores an empty result's values as a plain JS array
 * (`makeTensorInfo(outShape, dtype, [])`) where every other kernel stores a typed array, and its Slice then calls
 * `values.subarray` on them: "vals.subarray is not a function". torchvision's Faster R-CNN takes that path when no
 * proposal survives its RPN, as on the blank warm-up image, so such a detector never became ready on the cpu
 * backend (wasm and libtensorflow are unaffected). The kernel is registered again, wrapped so that an empty
 * result holds an empty typed array.
 */
import * as tf from '@tensorflow/tfjs';

/** What tfjs-backend-cpu keeps per tensor (`backend.data.get(dataId)`). */
interface CpuTensorData {
  values: unknown;
}

interface CpuBackendData {
  data: { get(dataId: tf.DataId): CpuTensorData | undefined };
}

let wrapped = false;

/** Wraps the cpu backend's Concat kernel once; a no-op where it is not registered. */
export function fixCpuEmptyConcat(): void {
  if (wrapped) return;
  const config = tf.getKernel('Concat', 'cpu');
  if (config === undefined) return;
  const concat = config.kernelFunc;
  tf.unregisterKernel('Concat', 'cpu');
  tf.registerKernel({
    ...config,
    kernelFunc: (args) => {
      const out = concat(args) as tf.TensorInfo;
      if (out.dtype !== 'string' && tf.util.sizeFromShape(out.shape) === 0) {
        const stored = (args.backend as unknown as CpuBackendData).data.get(out.dataId);
        if (stored !== undefined && Array.isArray(stored.values)) {
          stored.values = tf.util.getTypedArrayFromDType(out.dtype, 0);
        }
      }
      return out;
    },
  });
  wrapped = true;
}
