// The header's typed enums (ntk_activation, ntk_output_form, ...) converted to the core's
// Swift enums. The numbers live here and in include/ntk.h only; an unknown value is an
// invalid argument naming the header's constants.
import CNTK
import NTK

func invalid(_ name: String, _ value: UInt32, _ allowed: String) -> NTKError {
    NTKError(.invalidArgument, "\(name) must be \(allowed), got \(value)")
}

func activation(_ a: ntk_activation, slope: Double) throws -> Activation {
    switch a {
    case NTK_ACTIVATION_IDENTITY: return .identity
    case NTK_ACTIVATION_RELU: return .relu
    case NTK_ACTIVATION_LEAKY_RELU:
        guard slope.isFinite else {
            throw NTKError(.nonFinite, "activation_parameter (the leaky_relu slope) is \(slope), must be finite")
        }
        return .leakyReLU(slope: slope)
    case NTK_ACTIVATION_ABS: return .abs
    case NTK_ACTIVATION_TANH: return .tanh
    case NTK_ACTIVATION_ERF: return .erf
    case NTK_ACTIVATION_SIGMOID: return .sigmoid
    case NTK_ACTIVATION_GELU: return .gelu
    case NTK_ACTIVATION_SOFTPLUS: return .softplus
    case NTK_ACTIVATION_SIN: return .sin
    default: throw invalid("activation", a.rawValue, "one of NTK_ACTIVATION_*")
    }
}

func parameterization(_ p: ntk_parameterization) throws -> Parameterization {
    switch p {
    case NTK_PARAMETERIZATION_NTK: return .ntk
    case NTK_PARAMETERIZATION_STANDARD: return .standard
    default: throw invalid("parameterization", p.rawValue, "NTK_PARAMETERIZATION_NTK or NTK_PARAMETERIZATION_STANDARD")
    }
}

func outputForm(_ o: ntk_output_form) throws -> EmpiricalKernel.Output {
    switch o {
    case NTK_OUTPUT_MEAN: return .mean
    case NTK_OUTPUT_FULL: return .full
    case NTK_OUTPUT_PER_OUTPUT: return .perOutput
    default: throw invalid("output", o.rawValue, "NTK_OUTPUT_MEAN, NTK_OUTPUT_FULL or NTK_OUTPUT_PER_OUTPUT")
    }
}

func kernelMethod(_ m: ntk_kernel_method) throws -> EmpiricalKernel.Method {
    switch m {
    case NTK_METHOD_STRUCTURED: return .structured
    case NTK_METHOD_JACOBIAN: return .jacobian
    case NTK_METHOD_VECTOR_PRODUCTS:
        throw NTKError(.invalidArgument, "options->method NTK_METHOD_VECTOR_PRODUCTS is for a model (ntk_model_"
                       + "empirical_ntk); an MLP's kernel takes NTK_METHOD_STRUCTURED or NTK_METHOD_JACOBIAN")
    default: throw invalid("options->method", m.rawValue, "NTK_METHOD_STRUCTURED or NTK_METHOD_JACOBIAN")
    }
}

/// The method of a model's kernel: Jacobian contraction (NTK_METHOD_STRUCTURED, the default, or
/// NTK_METHOD_JACOBIAN) or NTK–vector products.
func modelKernelMethod(_ m: ntk_kernel_method) throws -> TangentModelKernel.Method {
    switch m {
    case NTK_METHOD_STRUCTURED, NTK_METHOD_JACOBIAN: return .contraction
    case NTK_METHOD_VECTOR_PRODUCTS: return .vectorProducts
    default: throw invalid("options->method", m.rawValue,
                           "NTK_METHOD_STRUCTURED, NTK_METHOD_JACOBIAN or NTK_METHOD_VECTOR_PRODUCTS")
    }
}

func loss(_ l: ntk_loss) throws -> Loss {
    switch l {
    case NTK_LOSS_MSE: return .mse
    case NTK_LOSS_CROSS_ENTROPY: return .crossEntropy
    default: throw invalid("loss", l.rawValue, "NTK_LOSS_MSE or NTK_LOSS_CROSS_ENTROPY")
    }
}

func featuresForm(_ f: ntk_features_form) throws -> FeatureRidge.Form {
    switch f {
    case NTK_FORM_AUTO: return .automatic
    case NTK_FORM_PRIMAL: return .primal
    case NTK_FORM_DUAL: return .dual
    default: throw invalid("options->form", f.rawValue, "NTK_FORM_AUTO, NTK_FORM_PRIMAL or NTK_FORM_DUAL")
    }
}

func ridgeRelative(_ s: ntk_ridge_scale) throws -> Bool {
    switch s {
    case NTK_RIDGE_ABSOLUTE: return false
    case NTK_RIDGE_RELATIVE: return true
    default: throw invalid("options->ridge_scale", s.rawValue, "NTK_RIDGE_ABSOLUTE or NTK_RIDGE_RELATIVE")
    }
}

func negativePolicy(_ p: ntk_negative_eigenvalues) throws -> SpectralSolver.NegativeEigenvaluePolicy {
    switch p {
    case NTK_NEGATIVE_CLAMP: return .clamp
    case NTK_NEGATIVE_ERROR: return .error
    default: throw invalid("policy", p.rawValue, "NTK_NEGATIVE_CLAMP or NTK_NEGATIVE_ERROR")
    }
}

func criterion(_ c: ntk_ridge_criterion) throws -> SpectralSolver.SelectionCriterion {
    switch c {
    case NTK_CRITERION_GCV: return .gcv
    case NTK_CRITERION_LOO: return .leaveOneOut
    default: throw invalid("criterion", c.rawValue, "NTK_CRITERION_GCV or NTK_CRITERION_LOO")
    }
}

/// The C status code of an error kind (the values of `ntk_status`).
func statusCode(_ kind: NTKError.Kind) -> Int32 {
    switch kind {
    case .invalidArgument: NTK_ERR_INVALID_ARGUMENT.rawValue
    case .dimensionMismatch: NTK_ERR_DIMENSION_MISMATCH.rawValue
    case .nonFinite: NTK_ERR_NON_FINITE.rawValue
    case .notPositiveDefinite: NTK_ERR_NOT_POSITIVE_DEFINITE.rawValue
    case .outOfMemory: NTK_ERR_OUT_OF_MEMORY.rawValue
    case .cancelled: NTK_ERR_CANCELLED.rawValue
    case .numericalFailure: NTK_ERR_NUMERICAL.rawValue
    case .tooLarge: NTK_ERR_TOO_LARGE.rawValue
    case .invalidHandle: NTK_ERR_INVALID_HANDLE.rawValue
    case .internalError: NTK_ERR_INTERNAL.rawValue
    case .callbackFailed: NTK_ERR_CALLBACK.rawValue
    }
}

/// Whether `ntk_x_spectrum_filter` weighs by the shrinkage λ g(λ) (true) or by g(λ).
func shrinks(_ form: ntk_x_filter_form) throws -> Bool {
    switch form {
    case NTK_X_FILTER_VALUE: return false
    case NTK_X_FILTER_SHRINKAGE: return true
    default: throw invalid("form", form.rawValue, "NTK_X_FILTER_VALUE or NTK_X_FILTER_SHRINKAGE")
    }
}
