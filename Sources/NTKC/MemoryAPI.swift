// The process-wide memory budget of blocked computations (MemoryBudget).
import CNTK
import NTK

@_cdecl("ntk_set_memory_budget")
public func ntk_set_memory_budget(_ bytes: Int64) -> Int32 {
    boundary("ntk_set_memory_budget") { try MemoryBudget.setProcessDefault(Int(bytes)) }
}

@_cdecl("ntk_memory_budget")
public func ntk_memory_budget(_ bytes: UnsafeMutablePointer<Int64>?,
                              _ physical: UnsafeMutablePointer<Int64>?) -> Int32 {
    boundary("ntk_memory_budget") {
        bytes?.pointee = Int64(MemoryBudget.processDefault)
        physical?.pointee = Int64(MemoryBudget.physicalMemory)
    }
}
