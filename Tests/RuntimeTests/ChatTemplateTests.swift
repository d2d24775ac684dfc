import Foundation
import Runtime
import TestSupport
import XCTest

/// The chat template renderer against its reference, jinja2 set up as transformers'
/// `apply_chat_template` sets it up (tools/reference/render_chat_template.py), on real models'
/// templates and on small templates for each Jinja feature; and its refusals.
final class ChatTemplateTests: XCTestCase {
    typealias Fixture = ChatTemplateFixtures.Template

    struct Conversation {
        let name: String
        let messages: [ChatMessage]
    }

    /// With and without a system message, one message, several turns ending with either side,
    /// and text that could trip a renderer: newlines, quotes, backslashes, non-ASCII (a
    /// combining accent, an emoji), Jinja-looking markup, padding, a <think> block.
    static let conversations: [Conversation] = [
        Conversation(name: "one user message", messages: [ChatMessage(role: "user", content: "Hello")]),
        Conversation(name: "system and user", messages: [
            ChatMessage(role: "system", content: "You are a helpful assistant."),
            ChatMessage(role: "user", content: "What is 2+2?"),
        ]),
        Conversation(name: "multi-turn with system", messages: [
            ChatMessage(role: "system", content: "Be brief."),
            ChatMessage(role: "user", content: "Hi"),
            ChatMessage(role: "assistant", content: "Hello! How can I help?"),
            ChatMessage(role: "user", content: "Tell me a joke."),
        ]),
        Conversation(name: "multi-turn ending with the assistant", messages: [
            ChatMessage(role: "user", content: "Hi"),
            ChatMessage(role: "assistant", content: "Hello!"),
            ChatMessage(role: "user", content: "Bye"),
            ChatMessage(role: "assistant", content: "Goodbye."),
        ]),
        Conversation(name: "tricky text", messages: [
            ChatMessage(role: "system", content: "You are\na bot.\n"),
            ChatMessage(role: "user", content: #"He said "hi" and 'bye' \n C:\path\new {{ messages }} {% if true %}x{% endif %} {# c #}"#),
            ChatMessage(role: "assistant", content: "<think>\nLet me think.\n</think>\n\n  héllo wörld — 日本語 😀 e\u{301} \t"),
            ChatMessage(role: "user", content: "  padded  \n\n"),
        ]),
        Conversation(name: "empty content", messages: [ChatMessage(role: "user", content: "")]),
        Conversation(name: "two user messages in a row", messages: [
            ChatMessage(role: "user", content: "a"),
            ChatMessage(role: "user", content: "b"),
        ]),
        Conversation(name: "no messages", messages: []),
    ]

    // MARK: Against jinja2

    func testModelTemplatesRenderAsJinja2() throws {
        let tally = try compareWithJinja2(ChatTemplateFixtures.models, Self.conversations)
        // Most cases render; the rest are refusals jinja2 makes too (Mistral and Gemma refuse
        // some role orders, most templates read messages[0] of an empty conversation).
        XCTAssertGreaterThanOrEqual(tally.rendered, 160)
        print("chat templates: \(tally.rendered) model template x conversation cases rendered as jinja2 renders them, \(tally.refused) refused by both")
    }

    func testFeatureTemplatesRenderAsJinja2() throws {
        let conversations = Self.conversations.filter { ["multi-turn with system", "tricky text"].contains($0.name) }
        let tally = try compareWithJinja2(ChatTemplateFixtures.features, conversations)
        XCTAssertEqual(tally.rendered, ChatTemplateFixtures.features.count * conversations.count * 2)
    }

    func testTemplatesJinja2RefusesAreRefused() throws {
        let tally = try compareWithJinja2(ChatTemplateFixtures.failing, [Self.conversations[2]])
        XCTAssertEqual(tally.refused, ChatTemplateFixtures.failing.count * 2)
    }

    struct Tally {
        var rendered = 0
        var refused = 0
    }

    /// Renders every template on every conversation, with and without the generation prompt,
    /// here and in jinja2: the prompts must be equal code point for code point, and where jinja2
    /// fails the renderer must fail, with the same message when the template raised it.
    func compareWithJinja2(_ templates: [Fixture], _ conversations: [Conversation]) throws -> Tally {
        try Reference.requirePython(["jinja2"])
        struct Case {
            let template: Fixture
            let conversation: Conversation
            let addGenerationPrompt: Bool
            // Llama 3.2 prints today's date unless given one.
            var extra: [String: String] { template.name == "llama3.2" ? ["date_string": "26 Jul 2024"] : [:] }
        }
        var cases: [Case] = []
        for template in templates {
            for conversation in conversations {
                for addGenerationPrompt in [true, false] {
                    cases.append(Case(template: template, conversation: conversation, addGenerationPrompt: addGenerationPrompt))
                }
            }
        }
        // Written by hand: a message's keys must come in the order role, content, as
        // transformers receives them, since `tojson` and `items()` show that order.
        func json(_ text: String) throws -> String {
            String(decoding: try JSONSerialization.data(withJSONObject: text, options: .fragmentsAllowed), as: UTF8.self)
        }
        let request = try cases.map { c in
            let messages = try c.conversation.messages.map { #"{"role": \#(try json($0.role)), "content": \#(try json($0.content))}"# }
            let extra = try c.extra.map { "\(try json($0.key)): \(try json($0.value))" }
            return #"{"template": \#(try json(c.template.source)), "messages": [\#(messages.joined(separator: ", "))], "#
                + #""add_generation_prompt": \#(c.addGenerationPrompt), "bos_token": "<s>", "eos_token": "</s>", "#
                + #""extra": {\#(extra.joined(separator: ", "))}}"#
        }
        let folder = try Reference.temporaryDirectory("chat-template")
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("cases.json")
        try Data(("[" + request.joined(separator: ",\n") + "]").utf8).write(to: file)
        let output = try Reference.python(["tools/reference/render_chat_template.py", file.path])
        let expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(output.utf8)) as? [Any])
        XCTAssertEqual(expected.count, cases.count)

        var tally = Tally()
        for (c, reference) in zip(cases, expected) {
            let label = "\(c.template.name) on '\(c.conversation.name)', add_generation_prompt \(c.addGenerationPrompt)"
            let result = Result {
                try ChatTemplate(source: c.template.source).render(
                    messages: c.conversation.messages, addGenerationPrompt: c.addGenerationPrompt,
                    bosToken: "<s>", eosToken: "</s>", extra: c.extra)
            }
            switch (reference, result) {
            case (let want as String, .success(let got)):
                if got.unicodeScalars.elementsEqual(want.unicodeScalars) {
                    tally.rendered += 1
                } else {
                    XCTFail("\(label):\n got \(got.debugDescription)\nwant \(want.debugDescription)")
                }
            case (let want as String, .failure(let error)):
                XCTFail("\(label): jinja2 rendered \(want.debugDescription), the renderer failed: \(error)")
            case (let failure as [String: Any], .success(let got)):
                XCTFail("\(label): jinja2 failed (\(failure["message"] ?? "")), the renderer gave \(got.debugDescription)")
            case (let failure as [String: Any], .failure(let error)):
                guard let error = error as? ChatTemplateError else {
                    XCTFail("\(label): not a ChatTemplateError: \(error)")
                    continue
                }
                // transformers' raise_exception raises the base TemplateError itself.
                if failure["error"] as? String == "TemplateError" {
                    XCTAssertEqual(error.kind, .raised, label)
                    XCTAssertEqual(error.message, failure["message"] as? String, label)
                }
                tally.refused += 1
            default:
                XCTFail("\(label): unexpected reference output \(reference)")
            }
        }
        return tally
    }

    // MARK: Known prompts (checked against jinja2 when written; these need no Python)

    func testChatMLIsTheDefault() throws {
        let prompt = try ChatTemplate.chatML.render(
            messages: [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "Hi")],
            addGenerationPrompt: true)
        XCTAssertEqual(prompt, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        let noPrompt = try ChatTemplate.chatML.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false)
        XCTAssertEqual(noPrompt, "<|im_start|>user\nHi<|im_end|>\n")
    }

    func testSmolLM2AddsItsDefaultSystemPrompt() throws {
        let template = try ChatTemplate(source: ChatTemplateFixtures.smolLM2)
        let prompt = try template.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        XCTAssertEqual(prompt, "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
            + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    func testLlama3TrimsContentAndStartsWithBOS() throws {
        let template = try ChatTemplate(source: ChatTemplateFixtures.llama3)
        let prompt = try template.render(
            messages: [ChatMessage(role: "system", content: " Be brief. "), ChatMessage(role: "user", content: "Hi\n")],
            addGenerationPrompt: true, bosToken: "<|begin_of_text|>")
        XCTAssertEqual(prompt, "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|>"
            + "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n")
    }

    func testZephyrReliesOnTrimBlocks() throws {
        let template = try ChatTemplate(source: ChatTemplateFixtures.zephyr)
        let prompt = try template.render(
            messages: [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "Hi")],
            addGenerationPrompt: true, eosToken: "</s>")
        XCTAssertEqual(prompt, "<|system|>\nS</s>\n<|user|>\nHi</s>\n<|assistant|>\n")
    }

    func testQwen25DefaultSystemPromptAndExtraVariables() throws {
        let template = try ChatTemplate(source: ChatTemplateFixtures.qwen25)
        let prompt = try template.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        XCTAssertEqual(prompt, "<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n"
            + "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
        let llama32 = try ChatTemplate(source: ChatTemplateFixtures.llama32)
        let dated = try llama32.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false,
                                       bosToken: "<s>", extra: ["date_string": "1 Jan 2025"])
        XCTAssertEqual(dated, "<s><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\n"
            + "Today Date: 1 Jan 2025\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>")
        // Without date_string the template asks strftime_now for today's date.
        let today = try llama32.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false)
        XCTAssertNotNil(today.range(of: #"Today Date: \d\d [A-Z][a-z][a-z] \d{4}\n"#, options: .regularExpression), today)
    }

    func testSmolLMTemplateInItsGGUFFile() throws {
        let url = try Reference.requireSmolLM()
        let file = try GGUFFile(path: url.path)
        let source = try XCTUnwrap(file.value("tokenizer.chat_template")?.string)
        XCTAssertEqual(source, ChatTemplateFixtures.smolLM2, "the fixture is a verbatim copy of the GGUF metadata")
        let prompt = try ChatTemplate(source: source).render(
            messages: [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: true)
        XCTAssertEqual(prompt, "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")
    }

    // MARK: Refusals

    private func parseError(_ source: String, file: StaticString = #filePath, line: UInt = #line) -> ChatTemplateError? {
        do {
            _ = try ChatTemplate(source: source)
            XCTFail("parsed: \(source)", file: file, line: line)
        } catch let error as ChatTemplateError {
            return error
        } catch {
            XCTFail("not a ChatTemplateError: \(error)", file: file, line: line)
        }
        return nil
    }

    private func renderError(_ source: String, _ messages: [ChatMessage] = [ChatMessage(role: "user", content: "Hi")],
                             file: StaticString = #filePath, line: UInt = #line) -> ChatTemplateError? {
        do {
            let prompt = try ChatTemplate(source: source).render(messages: messages, addGenerationPrompt: true)
            XCTFail("rendered \(prompt.debugDescription) from \(source)", file: file, line: line)
        } catch let error as ChatTemplateError {
            return error
        } catch {
            XCTFail("not a ChatTemplateError: \(error)", file: file, line: line)
        }
        return nil
    }

    func testUnsupportedConstructsAreRefusedWhenParsed() throws {
        let cases: [(source: String, construct: String, line: Int, column: Int)] = [
            ("{% macro greet(name) %}hi {{ name }}{% endmacro %}{{ greet('x') }}", "'{% macro %}' tag", 1, 4),
            ("text\n{% include 'other.jinja' %}", "'{% include %}' tag", 2, 4),
            ("{% for m in messages %}\n  {{ m.content | wordcount }}\n{% endfor %}", "filter 'wordcount'", 2, 18),
            ("{{ messages is escaped }}", "test 'escaped'", 1, 16),
            ("{% for m in messages recursive %}{% endfor %}", "recursive loops", 1, 22),
        ]
        for c in cases {
            let error = try XCTUnwrap(parseError(c.source), c.source)
            XCTAssertEqual(error.kind, .unsupported, c.source)
            XCTAssertEqual([error.line, error.column], [c.line, c.column], "\(c.source): \(error)")
            XCTAssertTrue(error.description.contains(c.construct), "\(error) should name \(c.construct)")
            XCTAssertTrue(error.description.contains("line \(c.line), column \(c.column)"), "\(error)")
        }
    }

    func testMalformedTemplatesAreSyntaxErrors() throws {
        let cases: [(source: String, says: String)] = [
            ("{% if true %}never closed", "'if' tag at line 1, column 4 needs"),
            ("{% for m in messages %}{{ m }}", "'endfor'"),
            ("{{ messages[0]['role'] ", "'{{' is never closed"),
            ("{# a comment", "missing end of comment tag"),
            ("{% endif %}", "'{% endif %}' with no block open"),
            ("{% frobnicate %}", "unknown tag 'frobnicate'"),
            ("{{ 'unterminated }}", "unterminated string literal"),
            ("{{ (1 + 2 }}", "unexpected '}', expected ')'"),
            ("{{ 1 + }}", "unexpected '}}'"),
            ("{% break %}", "'break' outside a loop"),
        ]
        for c in cases {
            let error = try XCTUnwrap(parseError(c.source), c.source)
            XCTAssertEqual(error.kind, .syntax, "\(c.source): \(error)")
            XCTAssertTrue(error.description.contains(c.says), "\(error) should say \(c.says)")
            XCTAssertGreaterThan(error.line, 0, "\(error)")
        }
    }

    func testRaiseExceptionSurfacesItsMessage() throws {
        let mistral = try ChatTemplate(source: ChatTemplateFixtures.mistral)
        do {
            _ = try mistral.render(messages: [ChatMessage(role: "system", content: "S"), ChatMessage(role: "user", content: "Hi")],
                                   addGenerationPrompt: true)
            XCTFail("Mistral's template accepts no system message")
        } catch let error as ChatTemplateError {
            XCTAssertEqual(error.kind, .raised)
            XCTAssertEqual(error.message, "Conversation roles must alternate user/assistant/user/assistant/...")
            XCTAssertEqual(error.line, 1)
            XCTAssertTrue(error.description.contains("Conversation roles must alternate"), "\(error)")
        }
        let gemma = try XCTUnwrap(renderError(ChatTemplateFixtures.gemma, [ChatMessage(role: "system", content: "S")]))
        XCTAssertEqual(gemma.kind, .raised)
        XCTAssertEqual(gemma.message, "System role not supported")
    }

    func testRenderingFailuresNameTheProblem() throws {
        let undefined = try XCTUnwrap(renderError("{{ messages[0].role }}\n{{ settings.mode }}"))
        XCTAssertEqual(undefined.kind, .runtime)
        XCTAssertEqual(undefined.message, "'settings' is undefined")
        XCTAssertEqual(undefined.line, 2)
        let empty = try XCTUnwrap(renderError(ChatTemplateFixtures.qwen25, []))
        XCTAssertEqual(empty.message, "list object has no element 0")
        let types = try XCTUnwrap(renderError("{{ 'turns: ' + messages | length }}"))
        XCTAssertEqual(types.message, #"can only concatenate str (not "int") to str"#)
        let sandbox = try XCTUnwrap(renderError("{{ messages.append(1) }}"))
        XCTAssertTrue(sandbox.message.contains("unsafe"), "\(sandbox)")
    }

    func testUndefinedBehavesAsJinja2Default() throws {
        let template = try ChatTemplate(source: "[{{ missing }}]{% if missing %}yes{% else %}no{% endif %}{{ missing | length }}{% for x in missing %}x{% endfor %}{{ messages[0].name is defined }}")
        XCTAssertEqual(try template.render(messages: [ChatMessage(role: "user", content: "Hi")], addGenerationPrompt: false), "[]no0False")
    }

    func testHostileNestingIsRefusedNotCrashed() throws {
        let deep = String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000)
        let error = try XCTUnwrap(parseError("{{ " + deep + " }}"))
        XCTAssertEqual(error.kind, .unsupported)
        let blocks = String(repeating: "{% if true %}", count: 5000) + String(repeating: "{% endif %}", count: 5000)
        XCTAssertNotNil(parseError(blocks))
        let notNot = "{{ " + String(repeating: "not ", count: 5000) + "true }}"
        XCTAssertNotNil(parseError(notNot))
    }
}
