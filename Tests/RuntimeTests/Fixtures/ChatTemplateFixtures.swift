/// Chat templates of real models, copied verbatim from their tokenizer_config.json (or GGUF
/// metadata), and small templates exercising one Jinja feature each. Kept as raw string
/// literals so that every backslash and newline is the template's own.
enum ChatTemplateFixtures {
    struct Template {
        let name: String
        let source: String
    }

    static let models: [Template] = [
        Template(name: "smollm2", source: smolLM2),
        Template(name: "chatml", source: chatML),
        Template(name: "qwen2", source: qwen2),
        Template(name: "qwen2.5", source: qwen25),
        Template(name: "qwen3", source: qwen3),
        Template(name: "zephyr", source: zephyr),
        Template(name: "llama3", source: llama3),
        Template(name: "llama3.2", source: llama32),
        Template(name: "mistral", source: mistral),
        Template(name: "gemma", source: gemma),
        Template(name: "deepseek-coder", source: deepseekCoder),
        Template(name: "vigogne", source: vigogne),
        Template(name: "command-r", source: commandR),
        Template(name: "phi3", source: phi3),
    ]

    /// SmolLM2-135M-Instruct, as its GGUF file carries it (tokenizer.chat_template).
    static let smolLM2 = ##"""
{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %}
"""##

    /// ChatML without a default system prompt (OpenHermes 2.5; llama.cpp's fallback).
    static let chatML = #"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"#

    /// Qwen2-Instruct: ChatML with a default system prompt when the first message is not one.
    static let qwen2 = ##"""
{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful assistant.<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %}
"""##

    /// Qwen2.5-Instruct: ChatML with its default system prompt and the tool-calling branches.
    static let qwen25 = ##"""
{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}

"""##

    /// Qwen3: reasoning-content handling (reverse slice, split, lstrip/rstrip, namespace).
    static let qwen3 = ##"""
{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\n\n' }}
    {%- endif %}
    {{- "# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\n' + messages[0].content + '<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and message.content is string and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if message.content is string %}
        {%- set content = message.content %}
    {%- else %}
        {%- set content = '' %}
    {%- endif %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\n' + content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is string %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in content %}
                {%- set reasoning_content = content.split('</think>')[0].rstrip('\n').split('<think>')[-1].lstrip('\n') %}
                {%- set content = content.split('</think>')[-1].lstrip('\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\n<think>\n' + reasoning_content.strip('\n') + '\n</think>\n\n' + content.lstrip('\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\n\n</think>\n\n' }}
    {%- endif %}
{%- endif %}
"""##

    /// Zephyr / TinyLlama-1.1B-Chat: one tag per line, relying on trim_blocks.
    static let zephyr = ##"""
{% for message in messages %}
{% if message['role'] == 'user' %}
{{ '<|user|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'system' %}
{{ '<|system|>
' + message['content'] + eos_token }}
{% elif message['role'] == 'assistant' %}
{{ '<|assistant|>
'  + message['content'] + eos_token }}
{% endif %}
{% if loop.last and add_generation_prompt %}
{{ '<|assistant|>' }}
{% endif %}
{% endfor %}
"""##

    /// Meta-Llama-3-Instruct: bos_token, `| trim`, loop.index0.
    static let llama3 = ##"""
{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>

'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>

' }}{% endif %}
"""##

    /// Llama-3.2-Instruct: date_string/strftime_now, `messages[1:]`, `tojson(indent=4)`, whitespace control.
    static let llama32 = ##"""
{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- if strftime_now is defined %}
        {%- set date_string = strftime_now("%d %b %Y") %}
    {%- else %}
        {%- set date_string = "26 Jul 2024" %}
    {%- endif %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
        {{- '{"name": "' + tool_call.name + '", ' }}
        {{- '"parameters": ' }}
        {{- tool_call.arguments | tojson }}
        {{- "}" }}
        {{- "<|eot_id|>" }}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}

"""##

    /// Mistral-7B-Instruct-v0.2: raise_exception unless roles alternate user/assistant.
    static let mistral = #"{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"#

    /// Gemma-7B-it: refuses a system message with raise_exception.
    static let gemma = #"{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"#

    /// DeepSeek-Coder-Instruct: namespace() set inside a loop, `is defined`, mixed whitespace control.
    static let deepseekCoder = ##"""
{% if not add_generation_prompt is defined %}
{% set add_generation_prompt = false %}
{% endif %}
{%- set ns = namespace(found=false) -%}
{%- for message in messages -%}
    {%- if message['role'] == 'system' -%}
        {%- set ns.found = true -%}
    {%- endif -%}
{%- endfor -%}
{{bos_token}}{%- if not ns.found -%}
{{'You are an AI programming assistant, utilizing the Deepseek Coder model, developed by Deepseek Company, and you only answer questions related to computer science. For politically sensitive questions, security and privacy issues, and other non-computer science questions, you will refuse to answer\n'}}
{%- endif %}
{%- for message in messages %}
    {%- if message['role'] == 'system' %}
{{ message['content'] }}
    {%- else %}
        {%- if message['role'] == 'user' %}
{{'### Instruction:\n' + message['content'] + '\n'}}
        {%- else %}
{{'### Response:\n' + message['content'] + '\n<|EOT|>\n'}}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{% if add_generation_prompt %}
{{'### Response:'}}
{% endif %}
"""##

    /// Vigogne-2-chat: slices, `.strip()`, `not ... in`, comparisons with false.
    static let vigogne = #"{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif true == true and not '<<SYS>>' in messages[0]['content'] %}{% set loop_messages = messages %}{% set system_message = 'Vous êtes Vigogne, un assistant IA créé par Zaion Lab. Vous suivez extrêmement bien les instructions. Aidez autant que vous le pouvez.' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\n' + system_message + '\n<</SYS>>\n\n' + message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + content.strip() + ' [/INST]' }}{% elif message['role'] == 'system' %}{{ '<<SYS>>\n' + content.strip() + '\n<</SYS>>\n\n' }}{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}"#

    /// Command-R+: slices and `.strip()`.
    static let commandR = #"{{ bos_token }}{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}{% elif false == true %}{% set loop_messages = messages %}{% set system_message = 'You are Command-R, a brilliant, sophisticated, AI-assistant trained to assist human users by providing thorough responses. You are trained by Cohere.' %}{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}{% if system_message != false %}{{ '<|START_OF_TURN_TOKEN|><|SYSTEM_TOKEN|>' + system_message + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% set content = message['content'] %}{% if message['role'] == 'user' %}{{ '<|START_OF_TURN_TOKEN|><|USER_TOKEN|>' + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% elif message['role'] == 'assistant' %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>'  + content.strip() + '<|END_OF_TURN_TOKEN|>' }}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|START_OF_TURN_TOKEN|><|CHATBOT_TOKEN|>' }}{% endif %}"#

    /// Phi-3-small: eos_token when no generation prompt is added.
    static let phi3 = ##"""
{{ bos_token }}{% for message in messages %}{{'<|' + message['role'] + '|>' + '
' + message['content'] + '<|end|>
' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>
' }}{% else %}{{ eos_token }}{% endif %}
"""##

    /// One Jinja feature each, rendered over whole conversations.
    static let features: [Template] = [
        Template(name: "loop variables", source: #"{% for m in messages %}{{ loop.index }}/{{ loop.length }} {{ loop.index0 }} {{ loop.revindex }} {{ loop.revindex0 }} {{ loop.first }} {{ loop.last }} {{ loop.previtem is defined }} {{ loop.cycle('odd', 'even') }};{% endfor %}"#),
        Template(name: "loop filter and else", source: #"{% for m in messages if m.role != 'system' %}{{ loop.index }}/{{ loop.length }}:{{ m.role }} {% else %}none{% endfor %}"#),
        Template(name: "loop scoping", source: #"{% set x = 0 %}{% for i in [1, 2, 3] %}{{ x }}{% set x = i %}{{ x }},{% endfor %}|{{ x }}"#),
        Template(name: "nested loops", source: #"{% for m in messages %}{% for c in m.role %}{% if loop.first %}{{ c | upper }}{% endif %}{% endfor %}{% endfor %}"#),
        Template(name: "break and continue", source: #"{% for m in messages %}{% if m.role == 'system' %}{% continue %}{% endif %}{{ m.content }}{% break %}{% endfor %}"#),
        Template(name: "namespace", source: #"{% set ns = namespace(found=false, count=0) %}{% for m in messages %}{% if m['role'] == 'user' %}{% set ns.found = true %}{% set ns.count = ns.count + 1 %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.count }} {{ ns }}"#),
        Template(name: "if elif else", source: #"{% for m in messages %}{% if m.role == 'system' %}S{% elif m.role == 'user' %}U{% elif m.role == 'assistant' %}A{% else %}?{% endif %}{% endfor %}"#),
        Template(name: "set block and unpacking", source: #"{% set a, b = ['x', 'y'] %}{% set c %}[{{ a }}{{ b }}]{% endset %}{{ c }}{% set d | upper %}lower{% endset %}{{ d }}"#),
        Template(name: "subscripts and slices", source: #"{{ messages[0].role }} {{ messages[-1]['content'] }} {{ messages[1:] | length }} {{ messages[::-1][0].role }} {{ 'hello'[1:3] }} {{ 'hello'[::-1] }} {{ [1, 2, 3][-2:] }} {{ messages[99] is defined }}"#),
        Template(name: "literals", source: #"{{ 'a\tb\n' }}|{{ "it's" }}|{{ 'say "x"' }}|{{ 1 }} {{ 2.5 }} {{ 1e3 }} {{ 1_000 }} {{ true }} {{ True }} {{ none }} {{ [1, 'a', none] }} {{ {'k': 'v'} }} {{ (1,) }} {{ 'a' 'b' }}"#),
        Template(name: "arithmetic", source: #"{{ 1 + 2 }} {{ 7 - 10 }} {{ 3 * 4 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 0.1 + 0.2 }} {{ 1e16 }} {{ 1e-5 }} {{ 'ab' * 2 }} {{ [1] + [2] }} {{ 10 / 4 * 2 }}"#),
        Template(name: "strings", source: #"{{ 'a' + 'b' }} {{ 'n' ~ 1 ~ none ~ true }} {{ 'x' in 'xyz' }} {{ 'q' not in 'xyz' }} {{ '%s-%d' % ('a', 3) }}"#),
        Template(name: "comparisons and logic", source: #"{{ 1 < 2 < 3 }} {{ 'a' < 'b' }} {{ 1 == 1.0 }} {{ [1, 2] == [1, 2] }} {{ none or 'x' }} {{ 0 and 1 }} {{ not messages }} {{ 'user' in messages | map(attribute='role') | list }}"#),
        Template(name: "tests", source: #"{{ messages is defined }} {{ nothing is not defined }} {{ none is none }} {{ 'a' is string }} {{ 1 is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ false is false }} {{ {} is mapping }} {{ [] is iterable }} {{ 3 is odd }} {{ 4 is even }} {{ 9 is divisibleby 3 }} {{ 'ab' is lower }} {{ 2 is in [1, 2] }}"#),
        Template(name: "ternary", source: #"{% for m in messages %}{{ 'S' if m.role == 'system' else ('U' if m.role == 'user' else 'A') }}{{ '!' if loop.last }}{% endfor %}"#),
        Template(name: "undefined", source: #"[{{ nothing }}] [{{ nothing | default('d') }}] [{{ '' | default('e', true) }}] {{ nothing | length }} {{ nothing is defined }} {{ not nothing }} [{{ messages[0].missing }}] {% for x in nothing %}x{% endfor %}"#),
        Template(name: "filters on text", source: #"{% for m in messages %}[{{ m.content | trim }}|{{ m.content | upper }}|{{ m.content | lower }}|{{ m.content | length }}|{{ m.content | first }}|{{ m.content | last }}|{{ m.content | capitalize }}|{{ m.content | title }}|{{ m.content | replace('e', '3') }}|{{ m.content | reverse }}]{% endfor %}"#),
        Template(name: "filters on lists", source: #"{{ messages | length }} {{ messages | first }} {{ (messages | last).role }} {{ messages | map(attribute='role') | join(', ') }} {{ messages | selectattr('role', 'equalto', 'user') | list | length }} {{ messages | rejectattr('role', 'eq', 'user') | map(attribute='role') | first }} {{ [3, 1] | list }} {{ ['b', 'a'] | join }} {{ [1, 2, 3] | select('odd') | list }} {{ [1, 2] | map('string') | join('+') }}"#),
        Template(name: "tojson", source: #"{{ messages | tojson }} {{ messages[0] | tojson(indent=2) }} {{ {'b': 1, 'a': [1.5, none, true]} | tojson(sort_keys=true) }} {{ '\u00e9<&>\n' | tojson }}"#),
        Template(name: "string methods", source: #"{% for m in messages %}[{{ m.content.strip() }}|{{ m.content.upper() }}|{{ m.content.lower() }}|{{ m.content.startswith('H') }}|{{ m.content.endswith(('?', '.')) }}|{{ m.content.split() }}|{{ m.content.split('e', 1) }}|{{ m.content.rstrip('\n ') }}|{{ m.content.lstrip() }}|{{ m.content.replace(' ', '_') }}|{{ m.content.title() }}|{{ m.content.find('e') }}]{% endfor %}"#),
        Template(name: "dict access", source: #"{% for m in messages %}{{ m.get('role') }} {{ m.get('name', 'anon') }} {{ m.keys() | list }} {% for k, v in m.items() %}{{ k }}={{ v | length }} {% endfor %}{% endfor %}"#),
        Template(name: "range", source: #"{% for i in range(3) %}{{ i }}{% endfor %} {{ range(1, 10, 3) | list }} {{ range(5, 0, -2) | list }}"#),
        Template(name: "whitespace control", source: ##"""
{%- for m in messages -%}
    {{- m.role -}}
    {%- if not loop.last %}, {% endif -%}
{%- endfor %}

  {{- ' end' }}  

"""##),
        Template(name: "trim and lstrip blocks", source: ##"""
{% for m in messages %}
    {% if m.role == 'user' %}
        U: {{ m.content }}
    {% else %}
        O: {{ m.content }}
    {% endif %}
{% endfor %}
  {# a comment on its own line #}
  tail {%+ if true %}kept{% endif %}

"""##),
        Template(name: "comments and raw", source: ##"""
a {# comment #} b {#- trimmed -#} c
{% raw %}{{ not a tag }} {% if %}{% endraw %}
{{ '{{ quoted }}' }}
"""##),
        Template(name: "crlf source", source: "{% for m in messages %}\r\n{{ m.role }}\r\n{% endfor %}\r\n"),
        Template(name: "bos and eos", source: #"{{ bos_token }}{% for m in messages %}{{ m.content + eos_token }}{% endfor %}"#),
        Template(name: "tools and documents", source: #"{{ tools is none }} {{ documents is none }} {% if tools %}T{% else %}no tools{% endif %}"#),
        Template(name: "generation block", source: #"{% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}{% endfor %}"#),
        Template(name: "print statement", source: #"{% print messages | length %} {% print 'x' ~ 'y' %}"#),
    ]

    /// Templates jinja2 refuses to parse or render; the renderer must refuse them too.
    static let failing: [Template] = [
        Template(name: "attribute of undefined", source: #"{{ nothing.attribute }}"#),
        Template(name: "undefined in arithmetic", source: #"{{ nothing + 'a' }}"#),
        Template(name: "str plus int", source: #"{{ 'a' + 1 }}"#),
        Template(name: "mutating method", source: #"{{ messages.append(1) }}"#),
        Template(name: "not iterable", source: #"{% for x in none %}{% endfor %}"#),
        Template(name: "division by zero", source: #"{{ 1 // 0 }}"#),
        Template(name: "ordering across types", source: #"{{ 1 < 'a' }}"#),
        Template(name: "set attribute of non-namespace", source: #"{% set x = 1 %}{% set x.y = 2 %}"#),
        Template(name: "length of generator", source: #"{{ [1, 2] | select('odd') | length }}"#),
        Template(name: "raise_exception", source: #"{{ raise_exception('refused: ' ~ messages | length) }}"#),
        Template(name: "unclosed if", source: #"{% if true %}x"#),
        Template(name: "unclosed print", source: #"{{ x"#),
        Template(name: "unclosed comment", source: #"{# x"#),
        Template(name: "unknown tag", source: #"{% frobnicate %}"#),
        Template(name: "stray endfor", source: #"{% endfor %}"#),
        Template(name: "unknown filter", source: #"{{ 'a' | frobnicate }}"#),
        Template(name: "unknown test", source: #"{{ 'a' is frobnicate }}"#),
        Template(name: "break outside loop", source: #"{% break %}"#),
        Template(name: "chained is", source: #"{{ 1 is number is number }}"#),
        Template(name: "unbalanced bracket", source: #"{{ (1 }}"#),
        Template(name: "range too big", source: #"{{ range(200000) | length }}"#),
    ]

}
