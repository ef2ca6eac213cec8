import MeshIO
import MeshRouting
import TincProtocol

/// What the mesh tells itself after authentication: subnets, edges, key changes, pings.
/// Follows tinc 1.0.36's handlers including its corrections ("retaliation") when someone
/// contradicts what we know about ourselves.
extension MeshDaemon {
    /// Returns false when the connection must be closed.
    func handleActiveRequest(_ r: Request, line: String, from c: MetaConnection) -> Bool {
        switch r {
        case .reqKey, .ansKey, .keyChanged, .packet, .delEdge:
            runPendingGraph()
        default:
            break
        }
        switch r {
        case .ping:
            c.send(.pong)
            flush(c)
            return true
        case .pong:
            c.pinged = false
            c.outgoing?.reset()
            return true
        case let .addSubnet(_, owner, subnet): return addSubnetReceived(owner, subnet, line: line, from: c)
        case let .delSubnet(_, owner, subnet): return delSubnetReceived(owner, subnet, line: line, from: c)
        case let .addEdge(_, from, to, address, port, options, weight):
            return addEdgeReceived(from, to, address, port, options, weight, line: line, from: c)
        case let .delEdge(_, from, to): return delEdgeReceived(from, to, line: line, from: c)
        case let .keyChanged(_, origin): return keyChangedReceived(origin, line: line, from: c)
        case let .reqKey(from, to): return reqKeyReceived(from, to, line: line, from: c)
        case .ansKey: return ansKeyReceived(r, line: line, from: c)
        case .packet(let len):
            c.inbound.expectPacket(length: len)
            return true
        case .id, .metaKey, .challenge, .chalReply, .ack:
            Log.error("Got unexpected \(r.type.name) from \(c.label) on an active connection")
            return false
        }
    }

    // MARK: send_everything

    func sendEverything(to c: MetaConnection) {
        if settings.tunnelServer {
            for s in myself.subnets { c.send(.addSubnet(nonce: nonce(), owner: myself.name, subnet: s.description)) }
            return
        }
        for n in graph.nodesByName {
            for s in n.subnets { c.send(.addSubnet(nonce: nonce(), owner: n.name, subnet: s.description)) }
            for e in n.edges { c.send(addEdgeRequest(e)) }
        }
        flush(c)
    }

    func addEdgeRequest(_ e: Edge) -> Request {
        .addEdge(nonce: nonce(), from: e.from.name, to: e.to.name, address: e.address, port: e.port,
                 options: e.options, weight: e.weight)
    }

    // MARK: subnets

    func addSubnetReceived(_ ownerName: String, _ subnetString: String, line: String, from c: MetaConnection) -> Bool {
        guard isValidNodeName(ownerName), let subnet = Subnet(parsing: subnetString) else {
            Log.error("Got bad ADD_SUBNET from \(c.label): invalid name or subnet")
            return false
        }
        if gossip.seen.check(line, now: loop.now) { return true }
        if settings.tunnelServer && ownerName != myself.name && ownerName != c.name {
            Log.warning("Ignoring indirect ADD_SUBNET from \(c.label) for \(ownerName)")
            return true
        }
        guard let owner = nodeWithinLimits(named: ownerName, from: c) else { return true }
        if graph.hasSubnet(subnet, owner: owner) { return true }
        if owner === myself {
            Log.warning("Got ADD_SUBNET from \(c.label) for ourself")
            c.send(.delSubnet(nonce: nonce(), owner: myself.name, subnet: subnet.description))
            flush(c)
            return true
        }
        if settings.tunnelServer { return true }
        if settings.strictSubnets {
            Log.warning("Ignoring unauthorized ADD_SUBNET from \(c.label): \(subnet) for \(ownerName)")
            forward(line, type: .addSubnet, from: c)
            return true
        }
        // Past a limit the subnet is neither stored nor forwarded, so a flood stops here.
        guard subnetWithinLimits(subnet, owner: owner, from: c) else { return true }
        graph.addSubnet(subnet, owner: owner)
        publisher.scheduleTablePublish()
        if owner.reachable { runSubnetScript(up: true, owner: owner, subnet: subnet) }
        forward(line, type: .addSubnet, from: c)
        if case .mac = subnet.address { expireLearnedMAC(subnet) }
        return true
    }

    func delSubnetReceived(_ ownerName: String, _ subnetString: String, line: String, from c: MetaConnection) -> Bool {
        guard isValidNodeName(ownerName), let subnet = Subnet(parsing: subnetString) else {
            Log.error("Got bad DEL_SUBNET from \(c.label): invalid name or subnet")
            return false
        }
        if gossip.seen.check(line, now: loop.now) { return true }
        if settings.tunnelServer && ownerName != myself.name && ownerName != c.name { return true }
        guard let owner = graph.node(named: ownerName) else { return true }
        guard graph.hasSubnet(subnet, owner: owner) else {
            if settings.strictSubnets { forward(line, type: .delSubnet, from: c) }
            return true
        }
        if owner === myself {
            Log.warning("Got DEL_SUBNET from \(c.label) for ourself")
            c.send(.addSubnet(nonce: nonce(), owner: myself.name, subnet: subnet.description))
            flush(c)
            return true
        }
        if settings.tunnelServer { return true }
        forward(line, type: .delSubnet, from: c)
        if settings.strictSubnets { return true }
        if owner.reachable { runSubnetScript(up: false, owner: owner, subnet: subnet) }
        _ = graph.removeSubnet(subnet, owner: owner)
        publisher.scheduleTablePublish()
        return true
    }

    // MARK: edges

    func addEdgeReceived(_ fromName: String, _ toName: String, _ address: String, _ port: String, _ options: UInt32,
                         _ weight: Int, line: String, from c: MetaConnection) -> Bool {
        guard isValidNodeName(fromName), isValidNodeName(toName), fromName != toName else {
            Log.error("Got bad ADD_EDGE from \(c.label): invalid name")
            return false
        }
        if gossip.seen.check(line, now: loop.now) { return true }
        if settings.tunnelServer && fromName != myself.name && fromName != c.name && toName != myself.name && toName != c.name {
            Log.warning("Ignoring indirect ADD_EDGE from \(c.label)")
            return true
        }
        guard let from = nodeWithinLimits(named: fromName, from: c),
              let to = nodeWithinLimits(named: toName, from: c) else { return true }
        if let e = graph.edge(from: from, to: to) {
            if e.weight == weight && e.options == options && e.address == address && e.port == port { return true }
            if from === myself {
                Log.warning("Got ADD_EDGE from \(c.label) for ourself which does not match existing entry")
                c.send(addEdgeRequest(e))
                flush(c)
                return true
            }
            e.options = options
            e.address = address
            e.port = port
            e.weight = weight
        } else if from === myself {
            Log.warning("Got ADD_EDGE from \(c.label) for ourself which does not exist")
            gossip.contradictions.add += 1
            c.send(.delEdge(nonce: nonce(), from: fromName, to: toName))
            flush(c)
            return true
        } else {
            guard edgeWithinLimits(fromName, toName, from: c) else { return true }
            graph.addEdge(from: from, to: to, address: address, port: port, options: options, weight: weight)
        }
        if !settings.tunnelServer { forward(line, type: .addEdge, from: c) }
        // One graph run per batch of lines instead of one per edge: a full table from a new peer
        // (or a flood) would otherwise cost O(edges) per edge. Requests that depend on
        // reachability run the pending graph first (handleActiveRequest).
        gossip.graphRunPending = true
        return true
    }

    func delEdgeReceived(_ fromName: String, _ toName: String, line: String, from c: MetaConnection) -> Bool {
        guard isValidNodeName(fromName), isValidNodeName(toName), fromName != toName else {
            Log.error("Got bad DEL_EDGE from \(c.label): invalid name")
            return false
        }
        if gossip.seen.check(line, now: loop.now) { return true }
        if settings.tunnelServer && fromName != myself.name && fromName != c.name && toName != myself.name && toName != c.name {
            return true
        }
        guard let from = graph.node(named: fromName), let to = graph.node(named: toName),
              let e = graph.edge(from: from, to: to) else { return true }
        if from === myself {
            Log.warning("Got DEL_EDGE from \(c.label) for ourself")
            gossip.contradictions.del += 1
            c.send(addEdgeRequest(e))
            flush(c)
            return true
        }
        if !settings.tunnelServer { forward(line, type: .delEdge, from: c) }
        graph.removeEdge(e)
        runGraph()
        // The far end is gone: also drop its edge back to us so the mesh converges.
        if !to.reachable, let back = graph.edge(from: to, to: myself) {
            if !settings.tunnelServer { broadcast(.delEdge(nonce: nonce(), from: to.name, to: myself.name), except: nil) }
            graph.removeEdge(back)
            runGraph()
        }
        return true
    }

    // MARK: graph side effects

    /// tinc's graph(): recompute paths and the broadcast tree, then act on reachability changes in name order.
    /// Runs a graph computation deferred by `graphRunPending`, if any.
    func runPendingGraph() {
        if gossip.graphRunPending { runGraph() }
    }

    func runGraph() {
        gossip.graphRunPending = false
        defer {
            gossip.graphChanged = true
            publisher.scheduleTablePublish()
            if bgp != nil { updateBGPMesh() }
        }
        let changes = graph.run()
        let mst = graph.mstNeighbors()
        for c in conns.all.values { c.inMST = c.isActive && c.name.map { mst.contains($0) } == true }
        for ch in changes {
            let n = ch.node
            let addr = ch.udpAddress ?? n.udpAddress
            let remote = addr.map { "\($0.host) port \($0.port)" } ?? "unknown"
            if ch.becameReachable {
                Log.info(Log.traffic, "Node \(n.name) (\(remote)) became reachable")
            } else {
                Log.info(Log.traffic, "Node \(n.name) became unreachable")
            }
            nodeReachabilityChanged(n, reachable: ch.becameReachable)
            var env = hostEnvironment(n)
            if let a = addr { env["REMOTEADDRESS"] = a.host; env["REMOTEPORT"] = a.port }
            scripts.run(ch.becameReachable ? "host-up" : "host-down", extra: env)
            scripts.run("hosts/\(n.name)-\(ch.becameReachable ? "up" : "down")", extra: env)
            for s in n.subnets { runSubnetScript(up: ch.becameReachable, owner: n, subnet: s) }
            if ch.becameReachable && conns.activeByName[n.name] != nil { sendAnsKey(to: n) }
        }
    }

    func hostEnvironment(_ n: Node) -> [String: String] {
        var env = ["NODE": n.name]
        if let a = n.udpAddress {
            env["REMOTEADDRESS"] = a.host
            env["REMOTEPORT"] = a.port
        } else if let c = conns.activeByName[n.name] {
            env["REMOTEADDRESS"] = c.address.host
            env["REMOTEPORT"] = String(c.address.port)
        }
        return env
    }

    func runSubnetScript(up: Bool, owner: Node, subnet: Subnet) {
        var env = ["NODE": owner.name, "SUBNET": subnet.netString, "WEIGHT": String(subnet.weight)]
        if owner !== myself {
            env.merge(hostEnvironment(owner)) { a, _ in a }
        }
        scripts.run(up ? "subnet-up" : "subnet-down", extra: env)
    }

    /// SIGWINCH, and whenever the last connection closes: forget unreachable nodes with their edges and subnets.
    public func purge() {
        Log.info(Log.protocol_, "Purging unreachable nodes")
        for n in graph.nodesByName where !n.reachable && n !== myself {
            for e in n.edges {
                if !settings.tunnelServer { broadcast(.delEdge(nonce: nonce(), from: e.from.name, to: e.to.name), except: nil) }
                graph.removeEdge(e)
            }
            if !settings.strictSubnets {
                for s in n.subnets {
                    if !settings.tunnelServer { broadcast(.delSubnet(nonce: nonce(), owner: n.name, subnet: s.description), except: nil) }
                    _ = graph.removeSubnet(s, owner: n)
                }
            }
            // Keep nodes still named by an edge from elsewhere, or with subnets we must keep.
            let referenced = graph.nodesByName.contains { $0.edges.contains { $0.to === n } }
            if !referenced && n.subnets.isEmpty && conns.outgoings[n.name] == nil {
                keys[n.name] = nil
                graph.removeNode(n)
            }
        }
    }
}
