import Control
import Testing
import Wire

@Suite("Command feed")
struct CommandFeedTests {
    @Test func encodesTheDocumentedForm() {
        let event = CommandEvent(sensor: 17, action: .off, partition: 3, inputOffset: 42)
        #expect(String(decoding: event.encodeFeedMessage(), as: UTF8.self)
            == #"17 {"sensor":17,"action":1,"heater":"off","partition":3,"input_offset":42}"#)
        #expect(String(decoding: event.encodeJSONLine(), as: UTF8.self)
            == #"{"sensor":17,"action":1,"heater":"off","partition":3,"input_offset":42}"#)
        let logged = CommandEvent(sensor: 0, action: .on, partition: 0, inputOffset: 0, commandOffset: 7)
        #expect(String(decoding: logged.encodeFeedMessage(), as: UTF8.self)
            == #"0 {"sensor":0,"action":0,"heater":"on","partition":0,"input_offset":0,"offset":7}"#)
    }

    @Test func roundTrip() throws {
        var rng = SplitMix64(seed: 11)
        let sensors: [SensorID] = [0, 1, 17, 170, .max]
        for i in 0..<500 {
            let event = CommandEvent(
                sensor: i < sensors.count ? sensors[i] : rng.next(),
                action: rng.next() % 2 == 0 ? .on : .off,
                partition: Int(rng.next() % 4096),
                inputOffset: i % 7 == 0 ? .max : rng.next() >> (rng.next() % 64),
                commandOffset: rng.next() % 2 == 0 ? nil : rng.next())
            #expect(try CommandEvent.decodeFeedMessage(event.encodeFeedMessage()) == event)
            #expect(try CommandEvent.decodeJSONLine(event.encodeJSONLine()) == event)
        }
    }

    /// nng SUB filters by byte prefix: `"17 "` must match sensor 17's messages and never 170's.
    @Test func subscriptionPrefixSeparatesSensors() {
        let prefix = CommandEvent.subscriptionPrefix(for: 17)
        #expect(prefix == Array("17 ".utf8))
        let seventeen = CommandEvent(sensor: 17, action: .on, partition: 1, inputOffset: 1).encodeFeedMessage()
        let hundredSeventy = CommandEvent(sensor: 170, action: .on, partition: 1, inputOffset: 1).encodeFeedMessage()
        let one = CommandEvent(sensor: 1, action: .on, partition: 1, inputOffset: 1).encodeFeedMessage()
        #expect(seventeen.starts(with: prefix))
        #expect(!hundredSeventy.starts(with: prefix))
        #expect(!one.starts(with: prefix))
        #expect(hundredSeventy.starts(with: CommandEvent.subscriptionPrefix(for: 170)))
    }

    @Test(arguments: [
        (#"170 {"sensor":17,"action":1,"heater":"off","partition":3,"input_offset":42}"#, "invalid feed message: prefix 170 does not match sensor 17"),
        (#"{"sensor":17,"action":1,"partition":3,"input_offset":42}"#, "invalid feed message: no space after the sensor prefix"),
        (#"{"sensor": 17,"action":1,"partition":3,"input_offset":42}"#, "invalid feed message: the prefix must be a sensor ID in decimal"),
        (#"017 {"sensor":17,"action":1,"partition":3,"input_offset":42}"#, "invalid feed message: the prefix must be a sensor ID in decimal"),
        (#"-1 {"sensor":17,"action":1,"partition":3,"input_offset":42}"#, "invalid feed message: the prefix must be a sensor ID in decimal"),
        (#"18446744073709551616 {"sensor":17,"action":1,"partition":3,"input_offset":42}"#, "invalid feed message: the prefix must be a sensor ID in decimal"),
        ("17", "invalid feed message: no space after the sensor prefix"),
        ("17 ", "invalid command: not JSON: expected a value, found the end at byte 0"),
        (#"17 {"sensor":17,"action":2,"partition":3,"input_offset":42}"#, "invalid command: action must be 0 (on) or 1 (off), not 2"),
        (#"17 {"sensor":17,"action":1,"heater":"on","partition":3,"input_offset":42}"#, #"invalid command: heater must be "off" for action 1"#),
        (#"17 {"sensor":17,"action":1,"partition":3}"#, "invalid command: input_offset is missing"),
        (#"17 {"sensor":17,"action":1,"partition":-3,"input_offset":42}"#, "invalid command: partition must be an unsigned 64-bit integer"),
        (#"17 {"sensor":"17","action":1,"partition":3,"input_offset":42}"#, "invalid command: sensor must be an unsigned 64-bit integer"),
        (#"17 [17]"#, "invalid command: not a JSON object"),
    ])
    func decodingErrors(input: String, message: String) {
        do {
            _ = try CommandEvent.decodeFeedMessage(Array(input.utf8))
            Issue.record("decoded \(input)")
        } catch {
            #expect(error.description == message)
        }
    }

    @Test func decodingIgnoresUnknownMembers() throws {
        let event = try CommandEvent.decodeFeedMessage(Array(#"5 {"input_offset":9,"partition":2,"action":0,"sensor":5,"epoch":4,"offset":null}"#.utf8))
        #expect(event == CommandEvent(sensor: 5, action: .on, partition: 2, inputOffset: 9))
    }
}
