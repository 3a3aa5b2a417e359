// The Swift consumer of libntk: scripts/check_install.sh builds it as a package that depends on
// libntk by URL (a tagged clone) and by path (a folder with another name).
import NTK

let k: Matrix = [[2, 1], [1, 2]]
let x = try choleskySolve(k, [[0.8], [2]], ridge: 0.5)   // (K + 0.5 I) x = y: x = (0, 0.8)
guard abs(x[0, 0]) < 1e-14, abs(x[1, 0] - 0.8) < 1e-14 else { fatalError("wrong solution \(x)") }
print("NTK \(Version.string) ok")
