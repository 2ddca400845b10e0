import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Observability
import Testing
import Wire

/// `thermoshard simulate --report FILE.svg`: a well-formed SVG with a band, a temperature line
/// and heater stretches per sampled sensor, and the fleet's out-of-band lines.
@Suite struct ControlChartSVGTests {
    /// Every element with its attributes, in document order, and its enclosing elements'
    /// classes; parsing fails on anything that is not well-formed XML.
    final class Elements: NSObject, XMLParserDelegate {
        struct Element {
            var name: String
            var attributes: [String: String]
            var within: [String]
        }
        var all: [Element] = []
        var stack: [String] = []
        var text = ""

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            all.append(Element(name: name, attributes: attributes, within: stack))
            stack.append(attributes["class"] ?? name)
        }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) { stack.removeLast() }
        func parser(_ parser: XMLParser, foundCharacters string: String) { text += string }

        static func parse(_ svg: String) throws -> Elements {
            let elements = Elements()
            let parser = XMLParser(data: Data(svg.utf8))
            parser.delegate = elements
            #expect(parser.parse(), "not well-formed: \(parser.parserError.map { "\($0)" } ?? "?")")
            return elements
        }

        func classed(_ cls: String) -> [Element] { all.filter { $0.attributes["class"] == cls } }
    }

    static func points(_ element: Elements.Element) -> [(x: Double, y: Double)] {
        (element.attributes["points"] ?? "").split(separator: " ").map { pair in
            let xy = pair.split(separator: ",").map { Double($0)! }
            return (xy[0], xy[1])
        }
    }

    /// Ten seconds of two sensors: sensor 1 heats for seconds 2...4 and 7...8, sensor 2 never.
    static let reports = (0..<10).map { t in
        Fixture.control(at: Double(t), sensors: [(1, 20.4 + Double(t) * 0.1, [2, 3, 4, 7, 8].contains(t)), (2, 21, false)],
                        outOfBand: Double(t) / 20, outOfBandTime: Double(t) / 40)
    }

    @Test func wellFormedWithOneSeriesPerSampledSensor() throws {
        let svg = ControlChartSVG.render(Self.reports)
        let doc = try Elements.parse(svg)
        #expect(doc.all.first?.name == "svg")
        #expect(doc.all.first?.attributes["xmlns"] == "http://www.w3.org/2000/svg")
        let sensors = doc.classed("sensor")
        #expect(sensors.map { $0.attributes["data-sensor"] } == ["1", "2"])
        #expect(doc.classed("band").count == 2)
        #expect(doc.classed("temperature").count == 2)
        for line in doc.classed("temperature") {
            let points = Self.points(line)
            #expect(points.count == 10, "a point per report")
            #expect(zip(points, points.dropFirst()).allSatisfy { $0.x < $1.x }, "time goes right")
            #expect(line.within.last == "sensor")
        }
        // Sensor 1 warms steadily: its line climbs (SVG y grows downwards).
        let rising = Self.points(doc.classed("temperature")[0])
        #expect(zip(rising, rising.dropFirst()).allSatisfy { $0.y > $1.y })
    }

    @Test func theBandIsAClosedAreaAroundTheTemperature() throws {
        let doc = try Elements.parse(ControlChartSVG.render(Self.reports))
        let band = try #require(doc.classed("band").last)   // sensor 2: 21 against 20.5...21.5
        let d = try #require(band.attributes["d"])
        #expect(d.hasPrefix("M") && d.hasSuffix("Z"))
        let corners = d.dropFirst().dropLast().split(separator: " ").map { pair in
            pair.trimmingPrefix("L").split(separator: ",").map { Double($0)! }
        }
        #expect(corners.count == 20, "the upper edge forwards, the lower edge back")
        let upper = corners[..<10].map { $0[1] }, lower = corners[10...].map { $0[1] }
        let temperature = Self.points(doc.classed("temperature")[1]).map(\.y)
        for i in 0..<10 {
            #expect(upper[i] < temperature[i] && temperature[i] < lower[9 - i], "21.0 lies inside the band at report \(i)")
        }
    }

    @Test func heaterStretchesAreOneRectEachOn() throws {
        let doc = try Elements.parse(ControlChartSVG.render(Self.reports))
        let on = doc.all.filter { $0.attributes["class"] == "on" }
        let firstSensor = on.filter { $0.within.contains("sensor") }
        #expect(firstSensor.count == 2, "on for seconds 2-4 and 7-8: two stretches, sensor 2 none")
        #expect(firstSensor.allSatisfy { $0.within.last == "heater" })
        let widths = firstSensor.map { Double($0.attributes["width"]!)! }
        #expect(widths[0] > widths[1], "three seconds on, then two")
    }

    @Test func fleetLinesStayInsideTheirPanel() throws {
        let doc = try Elements.parse(ControlChartSVG.render(Self.reports))
        let now = try #require(doc.classed("out-of-band").first), time = try #require(doc.classed("out-of-band-time").first)
        #expect(now.within.last == "fleet" && time.within.last == "fleet")
        #expect(Self.points(now).count == 10 && Self.points(time).count == 10)
        let frame = try #require(doc.all.first { $0.within.last == "fleet" && $0.name == "rect" })
        let top = Double(frame.attributes["y"]!)!, bottom = top + Double(frame.attributes["height"]!)!
        for p in Self.points(now) + Self.points(time) { #expect(p.y >= top && p.y <= bottom) }
        // 0.45 of the fleet out of band at the end: further up than 0.225 of the time.
        #expect(Self.points(now).last!.y < Self.points(time).last!.y)
        #expect(doc.text.contains("22.5% so far"))
    }

    @Test func atMostTheRequestedSensors() throws {
        let many = (0..<3).map { t in Fixture.control(at: Double(t), sensors: (1...9).map { (UInt64($0), 21.0, false) }) }
        let doc = try Elements.parse(ControlChartSVG.render(many, sensors: 4))
        #expect(doc.classed("sensor").map { $0.attributes["data-sensor"] } == ["1", "2", "3", "4"])
    }

    @Test func noReportsIsStillAPicture() throws {
        let doc = try Elements.parse(ControlChartSVG.render([]))
        #expect(doc.all.first?.name == "svg")
        #expect(doc.text.contains("no observations"))
        #expect(doc.classed("sensor").isEmpty)
    }
}
