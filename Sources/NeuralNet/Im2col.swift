/// The geometry of a convolution's patches over one `[C, H, W]` image: kernel `kh × kw`,
/// strides, zero padding and dilation, and the `oh × ow` grid of patch positions.
/// ``Conv1d`` (a height of 1) and ``ConvTranspose2d`` (patches over its OUTPUT) use it;
/// ``Conv2d`` keeps its own, faster copy for square kernels.
struct PatchGeometry {
    let channels: Int, height: Int, width: Int
    let kernelHeight: Int, kernelWidth: Int
    let strideHeight: Int, strideWidth: Int
    let padHeight: Int, padWidth: Int
    let dilationHeight: Int, dilationWidth: Int
    let outHeight: Int, outWidth: Int

    /// Rows of the columns matrix: `C·kh·kw`.
    var rows: Int { channels * kernelHeight * kernelWidth }
    /// Patch positions: `oh·ow`.
    var positions: Int { outHeight * outWidth }

    /// Patch positions `lo..<hi` along one side whose tap at `offset` falls inside `0..<side`.
    @inline(__always)
    private static func valid(offset: Int, side: Int, outSide: Int, stride: Int, pad: Int) -> (Int, Int) {
        let start = pad - offset
        let lo = start > 0 ? (start + stride - 1) / stride : 0
        let top = side - 1 + pad - offset
        let hi = top < 0 ? 0 : min(outSide, top / stride + 1)
        return (min(lo, hi), hi)
    }

    /// Calls `body` for every columns row `(c·kh + i)·kw + j` with the image offset of its
    /// tap at patch position (0, 0) (possibly outside the image) and the patch rows and
    /// columns whose tap lies inside the image.
    @inline(__always)
    private func forEachTap(_ body: (_ row: Int, _ offset: Int, _ ys: Range<Int>, _ xs: Range<Int>) -> Void) {
        for c in 0..<channels {
            for i in 0..<kernelHeight {
                let (yLo, yHi) = Self.valid(offset: i * dilationHeight, side: height, outSide: outHeight,
                                            stride: strideHeight, pad: padHeight)
                for j in 0..<kernelWidth {
                    let (xLo, xHi) = Self.valid(offset: j * dilationWidth, side: width, outSide: outWidth,
                                                stride: strideWidth, pad: padWidth)
                    body((c * kernelHeight + i) * kernelWidth + j,
                         (c * height - padHeight + i * dilationHeight) * width - padWidth + j * dilationWidth,
                         yLo..<yHi, xLo..<xHi)
                }
            }
        }
    }

    /// image `[C, H, W]` -> columns `[C·kh·kw, oh·ow]` at `cols`, rows `ld` floats apart
    /// (zeros where a tap falls into the padding).
    func im2col(_ image: UnsafePointer<Float>, _ cols: UnsafeMutablePointer<Float>, ld: Int) {
        let rowStep = strideHeight * width
        forEachTap { r, offset, ys, xs in
            let row = cols + r * ld
            row.update(repeating: 0, count: positions)
            guard !xs.isEmpty else { return }
            for y in ys {
                let src = image + offset + y * rowStep, dst = row + y * outWidth
                for x in xs { dst[x] = src[x * strideWidth] }
            }
        }
    }

    /// columns `[C·kh·kw, oh·ow]` (rows `ld` apart) -> image `[C, H, W]`, ADDING every tap
    /// into its pixel (the adjoint of ``im2col(_:_:ld:)``).
    func col2im(_ cols: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, ld: Int) {
        let rowStep = strideHeight * width
        forEachTap { r, offset, ys, xs in
            guard !xs.isEmpty else { return }
            let row = cols + r * ld
            for y in ys {
                let dst = image + offset + y * rowStep, src = row + y * outWidth
                for x in xs { dst[x * strideWidth] += src[x] }
            }
        }
    }
}
