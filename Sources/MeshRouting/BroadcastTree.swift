// The broadcast tree as tinc 1.0.36 mst_kruskal() builds it.
//
// tinc starts from the from-node of the lightest edge whose from-node is reachable, then scans
// the weight-ordered edge list, skipping edges without a reverse or not crossing the visited set,
// adding the first crossing edge and restarting the scan from the lightest edge after any skip.
// So every added edge is the lightest (in edge_weight_compare order) two-way edge leaving the
// visited set: that is Prim's algorithm with the weight order as priority. We run it with a heap
// over weight-order ranks, which adds the same edges in the same order in O(E log E) instead of
// tinc's O(E * N) rescans.

extension MeshGraph {
    func computeBroadcastTree() {
        for (rank, e) in edgesByWeight.enumerated() {
            e.inMST = false
            e.weightRank = rank
        }
        guard let start = edgesByWeight.first(where: { $0.from.reachable })?.from else { return }

        var inTree = [Bool](repeating: false, count: nodeIDCapacity)
        var frontier = MinHeap()
        func grow(_ n: Node) {
            inTree[n.id] = true
            // Both directions of each two-way link are candidates; the lighter one wins.
            for e in n.edges {
                guard let r = e.reverse else { continue }
                if !inTree[e.to.id] {
                    frontier.push(e.weightRank)
                    frontier.push(r.weightRank)
                }
            }
        }
        grow(start)

        while let rank = frontier.pop() {
            let e = edgesByWeight[rank]
            let fromIn = inTree[e.from.id], toIn = inTree[e.to.id]
            if fromIn == toIn { continue }
            e.inMST = true
            e.reverse?.inMST = true
            grow(fromIn ? e.to : e.from)
        }
    }
}

/// Binary min-heap of Ints (edge ranks).
struct MinHeap {
    private var items: [Int] = []

    mutating func push(_ x: Int) {
        items.append(x)
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            if items[parent] <= items[i] { break }
            items.swapAt(parent, i)
            i = parent
        }
    }

    mutating func pop() -> Int? {
        guard let top = items.first else { return nil }
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count, items[l] < items[m] { m = l }
                if r < items.count, items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
