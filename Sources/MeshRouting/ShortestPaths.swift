// Single-source shortest paths as tinc 1.0.36 sssp_bfs() computes them: a breadth-first search by
// hop count (edge weights are ignored in 1.0), which also decides reachability, direct/indirect
// status, nexthop (meta messages), via (UDP data) and a first UDP address for each node.

extension MeshGraph {
    func computeShortestPaths() -> [ReachabilityChange] {
        let nodes = nodesByName
        var visited = [Bool](repeating: false, count: nodeIDCapacity)
        for n in nodes { n.indirect = true }

        myself.indirect = false
        myself.nexthop = myself
        myself.via = myself
        myself.prevEdge = nil
        myself.distance = 0
        visited[myself.id] = true

        // FIFO; a node appears at most twice (first visit, and once more if upgraded to direct).
        var queue: [Node] = [myself]
        queue.reserveCapacity(nodes.count * 2)
        var head = 0
        while head < queue.count {
            let n = queue[head]
            head += 1
            for e in n.edges {
                // A link counts only once both ends have announced it.
                guard e.reverse != nil else { continue }
                let to = e.to
                let indirect = n.indirect || e.options & MeshOption.indirectData != 0
                // A second visit may only upgrade an indirect node to direct.
                if visited[to.id] && (!to.indirect || indirect) { continue }

                if !visited[to.id] {
                    // nexthop is fixed by the first (shortest) visit only.
                    to.nexthop = n.nexthop === myself ? to : n.nexthop
                    to.distance = (n.distance ?? 0) + 1
                }
                visited[to.id] = true
                to.indirect = indirect
                to.prevEdge = e
                // Data goes straight to a direct node, else to the last direct node on the path.
                to.via = indirect ? n.via : to
                to.options = e.options
                if to.udpAddress == nil, e.hasNumericAddress {
                    to.udpAddress = (e.address, e.port)
                }
                queue.append(to)
            }
        }

        var changes: [ReachabilityChange] = []
        for n in nodes {
            let isVisited = visited[n.id]
            if !isVisited {
                // tinc leaves these stale; clearing them means nothing routes through an
                // unreachable node by accident and removed nodes are not kept alive.
                n.nexthop = nil
                n.via = nil
                n.prevEdge = nil
                n.distance = nil
            }
            guard isVisited != n.reachable else { continue }
            n.reachable = isVisited
            changes.append(ReachabilityChange(node: n, becameReachable: isVisited, udpAddress: n.udpAddress))
            if !isVisited {
                // tinc: UDP address cleared, status zeroed, options reset.
                n.udpAddress = nil
                n.indirect = false
                n.options = 0
            }
        }
        return changes
    }
}
