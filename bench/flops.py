"""Forward floating-point operations per time step per sequence, counted from a model's sizes.

Counting rules, the same for every term:

- a multiply-add (in a matrix product, a dot product or a weighted sum) is 2 FLOPs,
  so a dot product of length n is 2 n and a linear layer ``in -> out`` is 2 in out;
- a sum or product of n terms that is not part of a multiply-add is n - 1;
- every other elementwise add, subtract, multiply, divide or function (exp, log,
  sqrt, sigmoid, tanh, softplus) is 1;
- a softmax over n entries is 3 n - 1 (n exp, n - 1 adds, n divides);
- sorting, indexing, copies and concatenation are not floating-point arithmetic: 0.

Each function returns ``{term: FLOPs}``; its sum is the forward count. A training
step's backward pass is taken as 2x the forward pass (the usual estimate: one
product for the gradient of the inputs, one for the gradient of the weights), so
forward + backward is 3x the forward count.

Sizes: I input, O output, H controller units, L controller layers, N memory
locations, M word size, R read heads, W write heads (the NTM), S = 2 shift_range + 1
shifts. Both models feed the controller [x_t, r_{t-1}], I + R M inputs, and map
[h_t, r_t], H + R M features, to the output.
"""

from __future__ import annotations

from ntm_cli.models.dnc import interface_size


def controller_flops(controller: str, input_size: int, hidden_size: int, layers: int) -> int:
    """One controller step; ``input_size`` is what its first layer sees.

    LSTM, per layer with n inputs: gates 2 4H (n + H) (x W_ih^T and h W_hh^T),
    their two biases 2 4H, the gate nonlinearities 4H (three sigmoids, one tanh),
    c = f c + i g 3H, tanh(c) H, h = o tanh(c) H: 8H (n + H) + 17H.
    Feedforward, per layer: 2 H n + H (bias) + H (tanh).
    """
    total = 0
    for layer in range(layers):
        n, h = (input_size if layer == 0 else hidden_size), hidden_size
        total += 2 * 4 * h * (n + h) + 17 * h if controller == "lstm" else 2 * h * n + 2 * h
    return total


def linear_flops(in_features: int, out_features: int) -> int:
    """A linear layer with bias: 2 in out (multiply-adds) + out (bias)."""
    return 2 * in_features * out_features + out_features


def content_flops(heads: int, n: int, m: int) -> int:
    """Content weighting softmax_i(beta K(k, M(i))) for ``heads`` keys on one memory (NTM eq. 5-6).

    k . M(i): 2 M N per head; |k|: 2M + 1 per head; |M(i)|: N (2M + 1), once for
    all heads; |k| |M(i)|, + epsilon, the division and beta K: 4 N per head;
    softmax: 3N - 1 per head.
    """
    per_head = 2 * m * n + (2 * m + 1) + 4 * n + (3 * n - 1)
    return heads * per_head + n * (2 * m + 1)


def write_flops(write_heads: int, n: int, m: int) -> int:
    """Erase then add (NTM eq. 3-4) with W heads.

    w_h(i) e_h and 1 - w_h(i) e_h: 2 W N M; their product over the heads
    (W - 1) N M; M(i) times it: N M; + sum_h w_h(i) a_h: 2 W N M (multiply-adds).
    5 W N M in all.
    """
    return 2 * write_heads * n * m + (write_heads - 1) * n * m + n * m + 2 * write_heads * n * m


def ntm_flops(
    input_size: int,
    output_size: int,
    *,
    controller: str = "lstm",
    hidden_size: int = 100,
    controller_layers: int = 1,
    memory_n: int = 128,
    memory_m: int = 20,
    read_heads: int = 1,
    write_heads: int = 1,
    shift_range: int = 1,
) -> dict[str, int]:
    """The NTM's forward FLOPs per time step per sequence, term by term (``NTM``'s keyword names).

    With K = R + W heads, all addressed on M_{t-1}:
    controller; head parameters: a linear layer H -> P, P = K (M + 3 + S) + 2 W M;
    head activations: tanh key K M, softplus beta K, sigmoid gate K, softmax shift
    K (3S - 1), gamma = 1 + softplus 2K, sigmoid erase and tanh add 2 W M;
    content addressing (content_flops with K keys); interpolation g w_c + (1 - g) w_prev:
    3 N K + K; circular shift convolution: 2 S N K (N K when S = 1, a plain product);
    sharpening softmax(gamma log(w + eps)): 3 N K + K (3N - 1); write (write_flops);
    read sum_i w(i) M(i): 2 N M R; output layer H + R M -> O.
    """
    i, o, h, n, m = input_size, output_size, hidden_size, memory_n, memory_m
    r, w, s = read_heads, write_heads, 2 * shift_range + 1
    k = r + w
    head_outputs = k * (m + 3 + s) + 2 * w * m
    return {
        "controller": controller_flops(controller, i + r * m, h, controller_layers),
        "head_params": linear_flops(h, head_outputs),
        "head_activations": k * m + k + k + k * (3 * s - 1) + 2 * k + 2 * w * m,
        "content_addressing": content_flops(k, n, m),
        "interpolation": 3 * n * k + k,
        "shift": 2 * s * n * k if s > 1 else n * k,
        "sharpen": 3 * n * k + k * (3 * n - 1),
        "write": write_flops(w, n, m),
        "read": 2 * n * m * r,
        "output": linear_flops(h + r * m, o),
    }


def dnc_flops(
    input_size: int,
    output_size: int,
    *,
    controller: str = "lstm",
    hidden_size: int = 100,
    controller_layers: int = 1,
    memory_n: int = 128,
    memory_m: int = 20,
    read_heads: int = 1,
) -> dict[str, int]:
    """The DNC's forward FLOPs per time step per sequence, term by term (``DNC``'s keyword names).

    One write head, R read heads, word size M:
    controller; interface: a linear layer H -> M R + 3M + 5R + 3;
    interface activations: oneplus read strengths 2R and write strength 2, sigmoid
    erase M, free gates R, allocation and write gates 2, softmax read modes R (3 3 - 1);
    write content weighting on M_{t-1} (content_flops, one key);
    retention psi = prod_r (1 - f_r w^r_r): 2 R N + (R - 1) N;
    usage (u + w - u w) psi: 4N;
    allocation (1 - u[phi_j]) prod_{i<j} u[phi_i] after sorting: N - 1 (cumulative
    product) + 2N; write weighting g^w (g^a a + (1 - g^a) c): 4N + 1;
    write: erase then add with one head (write_flops);
    link matrix (1 - w_i - w_j) L_ij + w_i p_j: 5 N^2 (the zero diagonal is not arithmetic);
    precedence (1 - sum_i w_i) p + w: (N - 1) + 1 + 2N;
    forward and backward weightings L w^r and L^T w^r: 2 (2 N^2) per read head;
    read content weighting on M_t (content_flops, R keys);
    read weighting pi_b b + pi_c c + pi_f f: 5 N R; read: 2 N M R; output layer H + R M -> O.
    """
    i, o, h, n, m, r = input_size, output_size, hidden_size, memory_n, memory_m, read_heads
    interface = interface_size(r, m)
    return {
        "controller": controller_flops(controller, i + r * m, h, controller_layers),
        "interface": linear_flops(h, interface),
        "interface_activations": 2 * r + 2 + m + r + 2 + r * (3 * 3 - 1),
        "write_content": content_flops(1, n, m),
        "retention": 2 * r * n + (r - 1) * n,
        "usage": 4 * n,
        "allocation": (n - 1) + 2 * n,
        "write_weighting": 4 * n + 1,
        "write": write_flops(1, n, m),
        "link": 5 * n * n,
        "precedence": (n - 1) + 1 + 2 * n,
        "forward_backward": 2 * 2 * n * n * r,
        "read_content": content_flops(r, n, m),
        "read_weighting": 5 * n * r,
        "read": 2 * n * m * r,
        "output": linear_flops(h + r * m, o),
    }
